using GraphEngine.Graph;
using GraphEngine.Models;

namespace GraphEngine.Tests.BadInput;

/// <summary>Anything the engine handed out throws ObjectDisposedException after Dispose, never touches freed memory.</summary>
public class UseAfterDisposeTests
{
    public enum Use { ReadOutput, WriteInput, ReadSlice, ReadReshape, Prefill, EngineForward, LayerForward, WriteTokenCount, Capture, Listing, Require, RandomizeInputs }

    private static (Device Device, PrefillEngine Engine, BuiltModel Model) Build(bool graphs = false)
    {
        var device = Device.Open(BackendPreference.Reference);
        var engine = new PrefillEngine(device, graphs ? new BlockWiseGraphOptions { Sizes = new[] { 4 } } : new BlockWiseGraphOptions { Enabled = false }, 4);
        var model = ModelFactory.Build(engine, ModelPresets.Tiny, QuantConfig.Unquantized);
        return (device, engine, model);
    }

    private static void Do(Use use, PrefillEngine engine, BuiltModel model, Layer layer)
    {
        switch (use)
        {
            case Use.ReadOutput: model.Output.DownloadFloats(); break;
            case Use.WriteInput: model.Input.UploadFloats(new float[model.Input.ElementCount]); break;
            case Use.ReadSlice: model.Output.SliceRows(0, 1).DownloadFloats(); break;
            case Use.ReadReshape: model.Output.Reshape(model.Output.ElementCount).DownloadFloats(); break;
            case Use.Prefill: engine.Prefill(3); break;
            case Use.EngineForward: engine.Forward(layer, 3); break;
            case Use.LayerForward: layer.Forward(engine.Stream, 3); break;
            case Use.WriteTokenCount: engine.WriteTokenCount(3); break;
            case Use.Capture: engine.Capture(); break;
            case Use.Listing: engine.Listing(); break;
            case Use.Require: model.Output.Require("output", model.Output.DType); break;
            case Use.RandomizeInputs: model.RandomizeInputs(2); break;
        }
    }

    /// <summary>Every use: all of them go through the engine.</summary>
    public static TheoryData<Use> EveryUse => new(Enum.GetValues<Use>());

    /// <summary>The uses that reach device memory or the device's stream.</summary>
    public static TheoryData<Use> DeviceUses => new(Use.ReadOutput, Use.WriteInput, Use.Prefill, Use.EngineForward, Use.LayerForward, Use.WriteTokenCount);

    [Theory]
    [MemberData(nameof(EveryUse))]
    public void After_engine_dispose(Use use)
    {
        var (device, engine, model) = Build(graphs: true);
        using (device)
        {
            var layer = model.Layers[1];
            Do(use, engine, model, layer);   // works while alive
            engine.Dispose();
            Assert.Throws<ObjectDisposedException>(() => Do(use, engine, model, layer));
        }
    }

    [Theory]
    [MemberData(nameof(DeviceUses))]
    public void After_device_dispose(Use use)
    {
        var (device, engine, model) = Build();
        var layer = model.Layers[1];
        device.Dispose();
        Assert.Throws<ObjectDisposedException>(() => Do(use, engine, model, layer));
        engine.Dispose();
    }

    [Fact]
    public void A_tensor_of_a_disposed_buffer_or_pool()
    {
        using var device = Device.Open(BackendPreference.Reference);
        var buffer = device.AllocateTensor(DType.F32, new long[] { 4 }, out var t);
        buffer.Dispose();
        Assert.Throws<ObjectDisposedException>(() => t.ToArray<float>());
        var pool = new DevicePool(device, 0, 1 << 20);
        var block = pool.RentTensor(DType.F32, new long[] { 4 }, out var pt);
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pt.CopyFrom<float>(new float[4]));
        block.Dispose();
        Assert.Equal(0, device.AllocatedBytes);
    }
}

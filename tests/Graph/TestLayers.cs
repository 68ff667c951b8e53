using GraphEngine.Conformance;

namespace GraphEngine.Tests.Graph;

/// <summary>Capturable and does nothing: isolates the engine's own host cost.</summary>
internal sealed class NoOpLayer : CaseLayer
{
    public NoOpLayer(LayerContext context, string name, Tensor input, Tensor output) : base(context, name, input, output) { }

    public override void Forward(ComputeStream stream, int paddedTokens) => ValidatePadded(paddedTokens);
}

/// <summary>The conformance copy layer that also records every Forward call (padded size, whether capturing) to check the capture protocol.</summary>
internal sealed class RecordingLayer : CopyCaseLayer
{
    public RecordingLayer(LayerContext context, string name, Tensor input, Tensor output) : base(context, name, input, output) { }

    public List<(int Padded, bool Capturing)> Calls { get; } = new();

    public override void Forward(ComputeStream stream, int paddedTokens)
    {
        base.Forward(stream, paddedTokens);
        Calls.Add((paddedTokens, stream.IsCapturing));
    }
}

/// <summary>
/// A real capture failure: allocates a scratch buffer inside Forward, which the device refuses while
/// capturing (StreamCaptureException), as cuMemAlloc inside stream capture fails on CUDA.
/// </summary>
internal sealed class AllocatingCopyLayer : CaseLayer
{
    public AllocatingCopyLayer(LayerContext context, string name, Tensor input, Tensor output) : base(context, name, input, output) { }


    public override void Forward(ComputeStream stream, int paddedTokens)
    {
        ValidatePadded(paddedTokens);
        long bytes = paddedTokens * Input.RowBytes;
        using var scratch = Device.Allocate(bytes, $"{Name}.scratch");
        stream.CopyAsync(scratch.Ptr, Input.Ptr, bytes);
        stream.CopyAsync(Output.Ptr, scratch.Ptr, bytes);
        stream.Synchronize();       // scratch is freed on return
    }
}

/// <summary>Broken outright: throws whenever it runs, captured or not.</summary>
internal sealed class BrokenLayer : CaseLayer
{
    public BrokenLayer(LayerContext context, string name, Tensor input, Tensor output) : base(context, name, input, output) { }

    public override void Forward(ComputeStream stream, int paddedTokens) => throw new InvalidOperationException("broken layer");
}

/// <summary>
/// Writes a constant that is a kernel parameter, not device data: a graph keeps the value it was
/// captured with, as a CUDA graph keeps kernel arguments, so changing it needs a recapture.
/// </summary>
internal sealed class ConstantLayer : CaseLayer
{
    public ConstantLayer(LayerContext context, string name, Tensor input, Tensor output)
        : base(context, name, input, output.Require(nameof(output), DType.F32)) { }

    public float Value { get; set; } = 1f;

    public override void Forward(ComputeStream stream, int paddedTokens)
    {
        ValidatePadded(paddedTokens);
        stream.Fill32Async(Output.Ptr, BitConverter.SingleToUInt32Bits(Value), paddedTokens * Output.Dim(1));
    }
}

using BenchmarkDotNet.Attributes;
using GraphEngine.Graph;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Random;
using GraphEngine.Layers;
using GraphEngine.Layers.Quantization;

namespace GraphEngine.Bench.HostCosts;

/// <summary>
/// Host costs of the engine's hot paths on a 64-layer stack alternating RMSNorm and Linear (issue 3's
/// shape: hidden 2560 on CUDA; 256 on the reference backend, where "dispatch" includes the managed
/// compute because the reference stream runs each operation when it is enqueued).
/// </summary>
[MemoryDiagnoser]
public class HostCosts
{
    public const int Layers = 64;

    /// <summary>Set by Program from --backend (in-process toolchain: same process, so a static works).</summary>
    public static BackendPreference Backend { get; set; } = BackendPreference.Auto;

    private Device _device = null!;
    private PrefillEngine _graphs = null!;
    private PrefillEngine _eager = null!;
    private Layer _firstEager = null!;
    private Dictionary<string, string?> _env = null!;
    private int _n;

    [GlobalSetup]
    public void Setup()
    {
        _device = Device.Open(Backend);
        int hidden = _device.Kind == BackendKind.Cuda ? 2560 : 256;
        _graphs = Stack(new BlockWiseGraphOptions { Granularity = Granularity.Layer }, hidden);
        _graphs.Capture();
        _eager = Stack(new BlockWiseGraphOptions { Enabled = false, Sizes = Array.Empty<int>() }, hidden);
        _firstEager = _eager.Layers[0];
        _env = new Dictionary<string, string?>
        {
            ["FD_BLOCK_WISE_CUDA_GRAPH_SIZES"] = "1,2,4,8,16,32,64,128,256,512,1024,2048",
            ["GRAPHENGINE__BlockWiseCudaGraph__Granularity"] = "Segment",
        };
    }

    private PrefillEngine Stack(BlockWiseGraphOptions options, int h)
    {
        var engine = new PrefillEngine(_device, options, 2048);
        var a = engine.Activation("a", DType.BF16, h);
        var b = engine.Activation("b", DType.BF16, h);
        RandomFill.Create(_device).Uniform(_device.DefaultStream, a, 1, 1f);
        for (int i = 0; i < Layers / 2; i++)
        {
            engine.Add(new RmsNorm(engine.Context, $"norm.{i}", h, DType.BF16, 1e-6f, a, b));
            engine.Add(Linear.Create(engine.Context, $"linear.{i}", b, a, QuantMode.None, Kernels.Quant.GroupSize.PerChannel, LinearWeights.Random(h, h, (uint)i, 1f / MathF.Sqrt(h))));
        }
        _device.DefaultStream.Synchronize();
        return engine;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _graphs.Dispose();
        _eager.Dispose();
        _device.Dispose();
    }

    /// <summary>One eager layer forward (n = 1): the cost the engine removes per layer.</summary>
    [Benchmark]
    public void EagerLayerDispatch()
    {
        _firstEager.Forward(_eager.Stream, 1);
        _eager.Stream.Synchronize();
    }

    /// <summary>A whole replayed step (64 layer graphs, n = 1) including the wait for the GPU; per layer = / 64.</summary>
    [Benchmark(OperationsPerInvoke = Layers)]
    public void ReplayStepPerLayer()
    {
        _graphs.Prefill(1);
        _graphs.Stream.Synchronize();
    }

    /// <summary>Bucket lookup: smallest captured size >= n, cycling n over [1, 2048].</summary>
    [Benchmark(OperationsPerInvoke = 1024)]
    public int BucketLookup()
    {
        int acc = 0;
        for (int i = 0; i < 1024; i++)
        {
            _n = _n % 2048 + 1;
            acc += _graphs.PaddedSize(_n) ?? 0;
        }
        return acc;
    }

    /// <summary>Building the configuration (file absent, FD_ and GRAPHENGINE__ variables, a switch) and binding it strictly.</summary>
    [Benchmark]
    public BlockWiseGraphOptions ConfigBinding()
    {
        var config = EngineConfiguration.Build(null, new[] { "--graph-debug=false" }, _env);
        return EngineConfiguration.BindOptions(config, 2048);
    }
}

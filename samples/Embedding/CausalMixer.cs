using GraphEngine.Kernels;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Random;

namespace GraphEngine.Samples.Embedding;

/// <summary>
/// The application's own eager step between captured layers: a causal-attention stand-in. It projects
/// each token's [q|k|v] row to the attention width (a Gemm), then mixes every row with the rows before
/// it: out[t] = mean of v[t], v[t-1], ..., v[t-W+1] (clamped at the first token), using the MoE
/// family's weighted gather (Combine) with a fixed table of source rows and weights. Real work on the
/// device, reading only rows [0, n), and — like attention — something the application runs itself.
/// </summary>
public sealed class CausalMixer : IDisposable
{
    private readonly Gemm _gemm;
    private readonly MoePermute _mix;
    private readonly DeviceBuffer _weightBuf, _sourcesBuf, _scalesBuf, _vBuf;
    private readonly Tensor _w, _sources, _scales, _v;
    private readonly Tensor _qkv, _output;
    private readonly DevicePtr _tokenCount;

    public CausalMixer(Device device, Tensor qkv, Tensor output, DevicePtr tokenCount, int window)
    {
        if (window < 1) throw new ArgumentOutOfRangeException(nameof(window), window, "window must be >= 1");
        Window = window;
        _qkv = qkv;
        _output = output;
        _tokenCount = tokenCount;
        int maxTokens = checked((int)qkv.Rows);
        long width = output.Dim(1);
        _gemm = Gemm.Create(device);
        _mix = MoePermute.Create(device);
        _weightBuf = device.AllocateTensor(qkv.DType, new long[] { width, qkv.Dim(1) }, out _w, "mixer.v_proj");
        _vBuf = device.AllocateTensor(qkv.DType, new long[] { maxTokens, width }, out _v, "mixer.v");
        _sourcesBuf = device.AllocateTensor(DType.I32, new long[] { (long)maxTokens * window }, out _sources, "mixer.sources");
        _scalesBuf = device.AllocateTensor(DType.F32, new long[] { maxTokens, window }, out _scales, "mixer.scales");
        RandomFill.Create(device).Uniform(device.DefaultStream, _w, 77, 1f / MathF.Sqrt(qkv.Dim(1)));
        device.DefaultStream.Synchronize();

        // Token t averages rows t, t-1, ..., t-W+1; before the first token the slot repeats row 0 with weight 0.
        var sources = new int[maxTokens * window];
        var scales = new float[maxTokens * window];
        for (int t = 0; t < maxTokens; t++)
        {
            int real = Math.Min(t + 1, window);
            for (int k = 0; k < window; k++)
            {
                sources[t * window + k] = Math.Max(t - k, 0);
                scales[t * window + k] = k < real ? 1f / real : 0f;
            }
        }
        _sources.UploadInts(sources);
        _scales.UploadFloats(scales);
    }

    public int Window { get; }

    /// <summary>Enqueues the stand-in for rows [0, n) on <paramref name="stream"/> (not captured: runs eagerly every step).</summary>
    public void Run(ComputeStream stream, int n)
    {
        _gemm.MatMul(stream, _qkv, _w, _v, n);
        _mix.Combine(stream, _v, _sources, _scales, null, n, _tokenCount, Window, _output);
    }

    public void Dispose()
    {
        _gemm.Dispose();
        _scalesBuf.Dispose();
        _sourcesBuf.Dispose();
        _vBuf.Dispose();
        _weightBuf.Dispose();
    }
}

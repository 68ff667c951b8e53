using GraphEngine.Kernels;
using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Samples.RealModel;

/// <summary>
/// Launcher of cuda/attention.cu, compiled through the engine's compiler (<see cref="CudaDevice.GetKernelFromSource"/>):
/// rope_qk over (token, head) for the model's pairing and q/k norm, then causal_attention over (token, query head) with
/// (head_dim + n) floats of dynamic shared memory for q and the scores. Both kernels are fetched at construction.
/// </summary>
internal sealed unsafe class CausalAttentionCuda : CausalAttention
{
    private const uint Threads = 128;   // RA_THREADS in cuda/attention.cu
    private const string SourceName = "cuda/attention.cu";
    private readonly CudaKernel _rope, _attention;

    public CausalAttentionCuda(CudaDevice device, AttentionConfig config, int maxTokens) : base(device, config, maxTokens)
    {
        string source = KernelSources.Read(SourceName);
        string pairing = config.Pairing == RotaryPairing.Interleaved ? "true" : "false";
        _rope = device.GetKernelFromSource(SourceName, source, $"rope_qk<{pairing}, {(config.QkNorm ? "true" : "false")}>");
        _attention = device.GetKernelFromSource(SourceName, source, "causal_attention");
        long shared = SharedBytes(config, maxTokens);
        if (shared + _attention.StaticSharedBytes > device.MaxSharedMemoryPerBlockOptin)
            throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens,
                $"causal_attention keeps q and every score of a row in shared memory: {shared} bytes at {maxTokens} tokens, " +
                $"above what a block of {device.Info.Name} may have ({device.MaxSharedMemoryPerBlockOptin} bytes)");
        _attention.EnsureDynamicSharedMemory((int)shared);
    }

    private static long SharedBytes(AttentionConfig c, int tokens) => sizeof(float) * ((long)c.HeadDim + tokens);

    protected override void RunCore(ComputeStream stream, int n, Tensor qkv, Tensor output, QkNormWeights? norms)
    {
        var c = Config;
        var s = (CudaStream)stream;
        int heads = c.Heads, kv = c.KvHeads, d = c.HeadDim;
        float eps = (float)c.NormEps, scale = c.Scale;
        ulong pqkv = qkv.Ptr.Address, pq = norms?.Q.Ptr.Address ?? 0, pk = norms?.K.Ptr.Address ?? 0;
        ulong pcos = CosTable.Ptr.Address, psin = SinTable.Ptr.Address, pqk = RotatedQk.Ptr.Address, pout = output.Ptr.Address;
        void** rope = stackalloc void*[] { &pqkv, &pq, &pk, &pcos, &psin, &pqk, &heads, &kv, &d, &eps };
        _rope.Launch(s, new Dim3((uint)n, (uint)(heads + kv)), new Dim3(Threads), 0, rope);
        void** attention = stackalloc void*[] { &pqk, &pqkv, &pout, &heads, &kv, &d, &scale };
        _attention.Launch(s, new Dim3((uint)n, (uint)heads), new Dim3(Threads), (uint)SharedBytes(c, n), attention);
    }
}

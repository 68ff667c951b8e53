using GraphEngine.Kernels;
using GraphEngine.Kernels.Cuda;
using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Samples.RealModel;

/// <summary>Launcher of cuda/embedding.cu (compiled through the engine's compiler): one block of 256 threads per token.</summary>
internal sealed unsafe class EmbeddingLookupCuda : EmbeddingLookup
{
    private const string SourceName = "cuda/embedding.cu";
    private readonly CudaKernel _gather;

    public EmbeddingLookupCuda(CudaDevice device, CheckpointTensor embedTokens, int maxTokens) : base(device, embedTokens, maxTokens) =>
        _gather = device.GetKernelFromSource(SourceName, KernelSources.Read(SourceName), "embedding_gather");

    protected override void RunCore(ComputeStream stream, int n, Tensor output)
    {
        ulong table = Table.Ptr.Address, ids = Ids.Ptr.Address, o = output.Ptr.Address;
        int hidden = Hidden;
        void** args = stackalloc void*[] { &table, &ids, &o, &hidden };
        _gather.Launch((CudaStream)stream, new Dim3((uint)n), new Dim3(256), 0, args);
    }
}

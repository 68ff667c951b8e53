using GraphEngine.Kernels;
using GraphEngine.Kernels.Reference;
using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Samples.RealModel;

/// <summary>The gather on the reference backend: each id's row copied, as cuda/embedding.cu does.</summary>
internal sealed unsafe class EmbeddingLookupReference : EmbeddingLookup
{
    public EmbeddingLookupReference(Device device, CheckpointTensor embedTokens, int maxTokens) : base(device, embedTokens, maxTokens) { }

    protected override void RunCore(ComputeStream stream, int n, Tensor output)
    {
        ushort* table = (ushort*)Table.Ptr.Address, o = (ushort*)output.Ptr.Address;
        int* ids = (int*)Ids.Ptr.Address;
        int hidden = Hidden;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            for (int t = 0; t < n; t++)
                new ReadOnlySpan<ushort>(table + (long)ids[t] * hidden, hidden).CopyTo(new Span<ushort>(o + (long)t * hidden, hidden));
        });
    }
}

using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Random;

internal sealed unsafe class RandomFillReference : RandomFill
{
    protected override void UniformCore(ComputeStream stream, Tensor output, uint seed, float scale, float offset)
    {
        var ptr = output.Ptr;
        var dtype = output.DType;
        long count = output.ElementCount;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            switch (dtype)
            {
                case DType.F32:
                    var f = new Span<float>((void*)ptr.Address, checked((int)count));
                    for (int i = 0; i < f.Length; i++) f[i] = UniformValue(i, seed, scale, offset);
                    break;
                default:
                    var h = new Span<ushort>((void*)ptr.Address, checked((int)count));
                    for (int i = 0; i < h.Length; i++) h[i] = HalfBits.FromFloat(UniformValue(i, seed, scale, offset), dtype);
                    break;
            }
        });
    }
}

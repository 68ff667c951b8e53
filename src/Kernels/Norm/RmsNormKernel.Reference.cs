using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Norm;

internal sealed unsafe class RmsNormKernelReference : RmsNormKernel
{
    protected override void RunCore(ComputeStream stream, Tensor x, Tensor weight, Tensor output, int rows, DevicePtr tokenCount, float eps, Tensor? residual)
    {
        var dtype = x.DType;
        int hidden = (int)x.Dim(1);
        ulong px = x.Ptr.Address, pw = weight.Ptr.Address, po = output.Ptr.Address, pr = residual?.Ptr.Address ?? 0;
        ulong pt = tokenCount.Address;
        // The CUDA kernel's mutants that the reference can have too (mutation testing only; see KernelMutants).
        int lastRow = KernelMutants.IsActive("GE_MUTANT_RMSNORM_LAST_ROW") ? 1 : 0;
        int stored = KernelMutants.IsActive("GE_MUTANT_RMSNORM_LAST_COLUMN") ? hidden - 1 : hidden;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            int valid = Math.Max(0, ReferenceReads.ValidRows(pt, rows) - lastRow);   // read at run time: replay sees the current count
            var wf = new float[hidden];
            for (int i = 0; i < hidden; i++) wf[i] = HalfBits.ToFloat(((ushort*)pw)[i], dtype);
            Parallel.For(0, valid, r =>
            {
                var xr = new Span<ushort>((ushort*)px + (long)r * hidden, hidden);
                var z = new float[hidden];
                if (pr != 0)
                {
                    var rr = new Span<ushort>((ushort*)pr + (long)r * hidden, hidden);
                    for (int i = 0; i < hidden; i++)
                    {
                        ushort bits = HalfBits.FromFloat(HalfBits.ToFloat(xr[i], dtype) + HalfBits.ToFloat(rr[i], dtype), dtype);
                        if (i < stored) rr[i] = bits;
                        z[i] = HalfBits.ToFloat(bits, dtype);
                    }
                }
                else
                {
                    for (int i = 0; i < hidden; i++) z[i] = HalfBits.ToFloat(xr[i], dtype);
                }
                var o = new float[hidden];
                NormalizeRow(z, wf, eps, o);
                var orow = new Span<ushort>((ushort*)po + (long)r * hidden, hidden);
                for (int i = 0; i < stored; i++) orow[i] = HalfBits.FromFloat(o[i], dtype);
            });
        });
    }
}

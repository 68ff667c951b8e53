using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Kernels.Moe;

internal sealed unsafe class MoePermuteCuda : MoePermute
{
    private const string Source = "moe/moe_permute.cu";
    private const uint Threads = 256;

    private readonly CudaDevice _device;

    public MoePermuteCuda(CudaDevice device) => _device = device;

    private CudaKernel Kernel(string name) => _device.GetKernel(Source, name);

    /// <summary>
    /// Blocks per row (grid.y) for the row-wise SwiGLU and combine: enough that few rows still put about two
    /// blocks on every SM, never more than the row has columns for one thread each. Many rows: one.
    /// </summary>
    internal static uint ColumnSplit(int rows, int width, int smCount)
    {
        int perRow = (width + (int)Threads - 1) / (int)Threads;
        int wanted = (2 * smCount + Math.Max(rows, 1) - 1) / Math.Max(rows, 1);
        return (uint)Math.Clamp(wanted, 1, Math.Max(perRow, 1));
    }

    /// <summary>A row-wise kernel's name with its grid's column split: one block per row, or several.</summary>
    internal static string RowKernelName(string kernel, int rows, int width, int smCount) =>
        $"{kernel}<{LaunchTarget.TypeParameter}>, " + (ColumnSplit(rows, width, smCount) > 1 ? "columns split over blocks" : "one block per row");

    protected override void ScatterCore(ComputeStream stream, Tensor x, Tensor inverse, int rows, DevicePtr tokenCount, int topK, Tensor permuted)
    {
        ulong px = x.Ptr.Address, pv = inverse.Ptr.Address, pa = permuted.Ptr.Address, pn = tokenCount.Address;
        int hidden = (int)x.Dim(1);
        void** args = stackalloc void*[] { &px, &pv, &pa, &pn, &rows, &topK, &hidden };
        Kernel("moe_scatter").Launch((CudaStream)stream, new Dim3((uint)(rows * topK)), new Dim3(Threads), 0, args, dependent: true);
    }

    protected override void SwiGluCore(ComputeStream stream, Tensor h, Tensor output, int rows, RowValidity validity, Tensor validInfo,
                                       DevicePtr tokenCount, int experts, int slotsPerExpert)
    {
        ulong ph = h.Ptr.Address, po = output.Ptr.Address, pi = validInfo.IsEmpty ? 0 : validInfo.Ptr.Address, pn = tokenCount.Address;
        int ffn = (int)output.Dim(1), mode = (int)validity, slots = Math.Max(1, slotsPerExpert);
        void** args = stackalloc void*[] { &ph, &po, &pi, &pn, &rows, &ffn, &mode, &experts, &slots };
        Kernel($"moe_swiglu<{h.DType.CudaTypeName()}>").Launch((CudaStream)stream,
            new Dim3((uint)rows, ColumnSplit(rows, ffn, _device.Info.SmCount)), new Dim3(Threads), 0, args, dependent: true);
    }

    protected override void CombineCore(ComputeStream stream, Tensor y, Tensor inverse, Tensor weights, Tensor? shared, int rows,
                                        DevicePtr tokenCount, int topK, Tensor output)
    {
        ulong py = y.Ptr.Address, pv = inverse.Ptr.Address, pw = weights.Ptr.Address, ps = shared?.Ptr.Address ?? 0,
              po = output.Ptr.Address, pn = tokenCount.Address;
        int hidden = (int)y.Dim(1);
        void** args = stackalloc void*[] { &py, &pv, &pw, &ps, &po, &pn, &rows, &topK, &hidden };
        Kernel($"moe_combine<{y.DType.CudaTypeName()}>").Launch((CudaStream)stream,
            new Dim3((uint)rows, ColumnSplit(rows, hidden, _device.Info.SmCount)), new Dim3(Threads), 0, args, dependent: true);
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

/// <summary>
/// A CUtensorMap: what the TMA unit needs to copy boxes of a tensor in global memory into shared memory (address,
/// sizes, strides, box, swizzle). 128 opaque bytes the driver encodes; passed to a kernel by value (a
/// <c>__grid_constant__ ge_tensor_map</c> parameter, native/ptx.cuh), so the launch copies it into the graph node.
/// </summary>
[InlineArray(16)]
internal struct TensorMap
{
    private ulong _element;

    /// <summary>
    /// A row-major half-precision tensor of two or three dimensions (innermost first: <paramref name="dims"/>[0]
    /// is the contiguous one), copied in boxes of <paramref name="box"/> elements with the 128-byte swizzle (the box's
    /// inner extent must be 128 bytes: 64 halfs); boxes past the edges read zeros.
    /// </summary>
    public static unsafe TensorMap HalfTiled(DType dtype, DevicePtr address, ReadOnlySpan<ulong> dims, ReadOnlySpan<uint> box)
    {
        int rank = dims.Length;
        if (rank is < 2 or > 3 || box.Length != rank)
            throw new ArgumentException($"tensor map of rank {rank} with a box of rank {box.Length}: ranks 2 and 3 are supported");
        if (!dtype.IsHalfPrecisionFloat()) throw new ArgumentException($"tensor map over {dtype}: BF16 or F16 only", nameof(dtype));
        if (box[0] * 2 != 128) throw new ArgumentException($"the box's inner extent is {box[0] * 2} bytes; the 128-byte swizzle needs 128", nameof(box));
        if (dims[0] * 2 % 16 != 0) throw new ArgumentException($"rows of {dims[0]} halfs are not a multiple of 16 bytes (the TMA's strides)", nameof(dims));
        if (address.Address % 16 != 0) throw new ArgumentException($"{address} is not 16-byte aligned", nameof(address));
        // 64-byte aligned storage for the driver to write into; the struct itself carries no alignment guarantee.
        byte* raw = stackalloc byte[128 + 64];
        byte* aligned = (byte*)(((nuint)raw + 63) & ~(nuint)63);
        ulong* gdim = stackalloc ulong[3];
        ulong* gstride = stackalloc ulong[2];
        uint* bdim = stackalloc uint[3];
        uint* estride = stackalloc uint[3];
        ulong stride = 2;
        for (int i = 0; i < rank; i++)
        {
            gdim[i] = dims[i];
            bdim[i] = box[i];
            estride[i] = 1;
            if (i > 0) gstride[i - 1] = stride;
            stride *= dims[i];
        }
        int type = dtype == DType.BF16 ? CuDriver.CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CuDriver.CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
        int st = CuDriver.cuTensorMapEncodeTiled(aligned, type, (uint)rank, (void*)address.Address, gdim, gstride, bdim, estride,
            CuDriver.CU_TENSOR_MAP_INTERLEAVE_NONE, CuDriver.CU_TENSOR_MAP_SWIZZLE_128B, CuDriver.CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
            CuDriver.CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
        if (st != 0)
            throw CudaException.Create(st, $"cuTensorMapEncodeTiled({dtype}, dims [{string.Join(", ", dims.ToArray())}], box [{string.Join(", ", box.ToArray())}])");
        var map = new TensorMap();
        new ReadOnlySpan<byte>(aligned, 128).CopyTo(MemoryMarshal.AsBytes(MemoryMarshal.CreateSpan(ref map[0], 16)));
        return map;
    }
}

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
    /// A row-major tensor of two or three dimensions (innermost first: <paramref name="dims"/>[0] is the contiguous one) of
    /// 16-bit floats (BF16, F16) or bytes (I8, U8: int8 codes), copied in boxes of <paramref name="box"/> elements with the
    /// 128-byte swizzle (the box's inner extent must be 128 bytes: 64 halfs or 128 bytes); boxes past the edges read zeros.
    /// </summary>
    public static TensorMap Swizzled128(DType dtype, DevicePtr address, ReadOnlySpan<ulong> dims, ReadOnlySpan<uint> box)
    {
        int type = dtype switch
        {
            DType.BF16 => CuDriver.CU_TENSOR_MAP_DATA_TYPE_BFLOAT16,
            DType.F16 => CuDriver.CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
            DType.I8 or DType.U8 => CuDriver.CU_TENSOR_MAP_DATA_TYPE_UINT8,
            _ => throw new ArgumentException($"tensor map over {dtype}: BF16, F16, I8 or U8 only", nameof(dtype)),
        };
        int size = dtype.BitsOf() / 8;
        if (box.Length > 0 && box[0] * size != 128) throw new ArgumentException($"the box's inner extent is {box[0] * size} bytes; the 128-byte swizzle needs 128", nameof(box));
        return Encode(type, size, CuDriver.CU_TENSOR_MAP_SWIZZLE_128B, dtype.ToString(), address, dims, box);
    }

    /// <summary>
    /// A row-major tensor of bytes (integer weight codes, int4 two to a byte) of two or three dimensions, innermost first,
    /// copied in boxes of <paramref name="box"/> bytes row after row, without swizzle: the box's inner extent must be a
    /// multiple of 16 bytes; boxes past the edges read zeros.
    /// </summary>
    public static TensorMap BytesTiled(DevicePtr address, ReadOnlySpan<ulong> dims, ReadOnlySpan<uint> box)
    {
        if (box.Length > 0 && (box[0] == 0 || box[0] % 16 != 0))
            throw new ArgumentException($"the box's inner extent is {box[0]} bytes; unswizzled boxes need a multiple of 16", nameof(box));
        return Encode(CuDriver.CU_TENSOR_MAP_DATA_TYPE_UINT8, 1, CuDriver.CU_TENSOR_MAP_SWIZZLE_NONE, "bytes", address, dims, box);
    }

    /// <summary>The checks every map needs before the driver sees it (rank, box extents, 16-byte strides and address), then the encoding.</summary>
    private static unsafe TensorMap Encode(int type, int elementBytes, int swizzle, string what, DevicePtr address, ReadOnlySpan<ulong> dims, ReadOnlySpan<uint> box)
    {
        int rank = dims.Length;
        if (rank is < 2 or > 3 || box.Length != rank)
            throw new ArgumentException($"tensor map of rank {rank} with a box of rank {box.Length}: ranks 2 and 3 are supported");
        for (int i = 1; i < rank; i++)
            if (box[i] is < 1 or > 256) throw new ArgumentException($"box dimension {i} is {box[i]} elements; the TMA takes 1 to 256", nameof(box));
        if (dims[0] * (ulong)elementBytes % 16 != 0)
            throw new ArgumentException($"rows of {dims[0]} {what} elements are not a multiple of 16 bytes (the TMA's strides)", nameof(dims));
        if (address.Address % 16 != 0) throw new ArgumentException($"{address} is not 16-byte aligned", nameof(address));
        // 64-byte aligned storage for the driver to write into; the struct itself carries no alignment guarantee.
        byte* raw = stackalloc byte[128 + 64];
        byte* aligned = (byte*)(((nuint)raw + 63) & ~(nuint)63);
        ulong* gdim = stackalloc ulong[3];
        ulong* gstride = stackalloc ulong[2];
        uint* bdim = stackalloc uint[3];
        uint* estride = stackalloc uint[3];
        ulong stride = (ulong)elementBytes;
        for (int i = 0; i < rank; i++)
        {
            gdim[i] = dims[i];
            bdim[i] = box[i];
            estride[i] = 1;
            if (i > 0) gstride[i - 1] = stride;
            stride *= dims[i];
        }
        int st = CuDriver.cuTensorMapEncodeTiled(aligned, type, (uint)rank, (void*)address.Address, gdim, gstride, bdim, estride,
            CuDriver.CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle, CuDriver.CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
            CuDriver.CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
        if (st != 0)
            throw CudaException.Create(st, $"cuTensorMapEncodeTiled({what}, dims [{string.Join(", ", dims.ToArray())}], box [{string.Join(", ", box.ToArray())}])");
        var map = new TensorMap();
        new ReadOnlySpan<byte>(aligned, 128).CopyTo(MemoryMarshal.AsBytes(MemoryMarshal.CreateSpan(ref map[0], 16)));
        return map;
    }
}

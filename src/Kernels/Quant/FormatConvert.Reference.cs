using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Quant;

/// <summary>The host encoders of src/Kernels/Numerics, run on the reference stream.</summary>
internal sealed unsafe class FormatConvertReference : FormatConvert
{
    protected override void EncodeFp8Core(ComputeStream stream, Tensor input, Tensor output, Fp8Saturation saturation)
    {
        var (x, y, n, e4m3) = (input.Ptr, output.Ptr, checked((int)input.ElementCount), output.DType == DType.Fp8E4M3);
        ((ReferenceStream)stream).Enqueue(() =>
        {
            var src = new ReadOnlySpan<float>((void*)x.Address, n);
            var dst = new Span<byte>((void*)y.Address, n);
            if (e4m3) Fp8E4M3.FromFloat(src, dst, saturation);
            else Fp8E5M2.FromFloat(src, dst, saturation);
        });
    }

    protected override void EncodeFp4Core(ComputeStream stream, Tensor input, Tensor output)
    {
        var (x, y, n) = (input.Ptr, output.Ptr, checked((int)input.ElementCount));
        ((ReferenceStream)stream).Enqueue(() =>
            Fp4E2M1.Pack(new ReadOnlySpan<float>((void*)x.Address, n), new Span<byte>((void*)y.Address, n / 2)));
    }

    protected override void EncodeHalfCore(ComputeStream stream, Tensor input, Tensor output)
    {
        var (x, y, n, dtype) = (input.Ptr, output.Ptr, checked((int)input.ElementCount), output.DType);
        ((ReferenceStream)stream).Enqueue(() =>
        {
            var src = new ReadOnlySpan<float>((void*)x.Address, n);
            var dst = new Span<ushort>((void*)y.Address, n);
            for (int i = 0; i < n; i++) dst[i] = HalfBits.FromFloat(src[i], dtype);
        });
    }

    protected override void DecodeCore(ComputeStream stream, Tensor input, Tensor output)
    {
        var (x, y, n, dtype) = (input.Ptr, output.Ptr, checked((int)input.ElementCount), input.DType);
        ((ReferenceStream)stream).Enqueue(() =>
        {
            var dst = new Span<float>((void*)y.Address, n);
            switch (dtype)
            {
                case DType.Fp8E4M3: Fp8E4M3.ToFloat(new ReadOnlySpan<byte>((void*)x.Address, n), dst); break;
                case DType.Fp8E5M2: Fp8E5M2.ToFloat(new ReadOnlySpan<byte>((void*)x.Address, n), dst); break;
                default: Fp4E2M1.Unpack(new ReadOnlySpan<byte>((void*)x.Address, n / 2), dst); break;
            }
        });
    }
}

using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Numerics;

namespace GraphEngine.Kernels.Quant;

internal sealed unsafe class FormatConvertCuda : FormatConvert
{
    private const uint Threads = 256;
    private readonly CudaDevice _device;

    public FormatConvertCuda(CudaDevice device) => _device = device;

    protected override void EncodeFp8Core(ComputeStream stream, Tensor input, Tensor output, Fp8Saturation saturation)
    {
        string format = output.DType == DType.Fp8E4M3 ? "e4m3" : "e5m2";
        string mode = saturation == Fp8Saturation.SatFinite ? "satfinite" : "nosat";
        Launch(stream, "quant/convert.cu", $"encode_{format}_{mode}", input, output, input.ElementCount);
    }

    // One thread step per byte, i.e. per pair of elements.
    protected override void EncodeFp4Core(ComputeStream stream, Tensor input, Tensor output) =>
        Launch(stream, "quant/convert_fp4.cu", "encode_e2m1", input, output, input.ElementCount / 2);

    protected override void EncodeHalfCore(ComputeStream stream, Tensor input, Tensor output) =>
        Launch(stream, "quant/convert.cu", output.DType == DType.BF16 ? "encode_bf16" : "encode_f16", input, output, input.ElementCount);

    protected override void DecodeCore(ComputeStream stream, Tensor input, Tensor output)
    {
        switch (input.DType)
        {
            case DType.Fp8E4M3: Launch(stream, "quant/convert.cu", "decode_e4m3", input, output, input.ElementCount); break;
            case DType.Fp8E5M2: Launch(stream, "quant/convert.cu", "decode_e5m2", input, output, input.ElementCount); break;
            default: Launch(stream, "quant/convert_fp4.cu", "decode_e2m1", input, output, input.ElementCount / 2); break;
        }
    }

    private void Launch(ComputeStream stream, string file, string name, Tensor input, Tensor output, long steps)
    {
        var kernel = KernelFor(file, name);
        ulong x = input.Ptr.Address;
        ulong y = output.Ptr.Address;
        long count = steps;
        // Grid-stride kernels: a few waves of blocks cover any size without a huge grid.
        uint blocks = (uint)Math.Max(1, Math.Min((steps + Threads - 1) / Threads, _device.Info.SmCount * 16L));
        void** args = stackalloc void*[] { &x, &y, &count };
        kernel.Launch((CudaStream)stream, new Dim3(blocks), new Dim3(Threads), 0, args);
    }

    private CudaKernel KernelFor(string file, string name) => _device.GetKernel(file, name);
}

using GraphEngine.Kernels.Numerics;

namespace GraphEngine.Kernels.Quant;

/// <summary>
/// Whole-tensor format conversions done by the device's own conversion intrinsics. Their job is to let
/// `graphengine check` hold the host encoders (src/Kernels/Numerics) against the GPU bit for bit; the
/// quant kernels convert inline and do not call these. On the reference backend they run the host
/// encoders, so there the conformance cases check the host against known answers instead.
/// Not token-count aware: they convert every element of the tensors they are given.
/// </summary>
public abstract class FormatConvert
{
    /// <summary>The implementation for <paramref name="device"/>: the CUDA launcher on a CUDA device, the managed reference on the reference backend.</summary>
    public static FormatConvert Create(Device device) =>
        KernelBackend.Create<FormatConvert>(device, cuda => new FormatConvertCuda(cuda), () => new FormatConvertReference());

    /// <summary>F32 to Fp8E4M3 or Fp8E5M2, as __nv_cvt_float_to_fp8 with <paramref name="saturation"/>.</summary>
    public void EncodeFp8(ComputeStream stream, Tensor input, Tensor output, Fp8Saturation saturation)
    {
        Validate(stream, input, output, DType.F32, nameof(input));
        if (output.DType is not (DType.Fp8E4M3 or DType.Fp8E5M2))
            throw new ArgumentException($"{nameof(output)} must be Fp8E4M3 or Fp8E5M2, got {output}", nameof(output));
        if (!Enum.IsDefined(saturation))
            throw new ArgumentOutOfRangeException(nameof(saturation), saturation, "unknown fp8 saturation mode");
        if (input.ElementCount == 0) return;
        EncodeFp8Core(stream, input, output, saturation);
    }

    /// <summary>F32 to packed Fp4E2M1 (element 0 in the low nibble), as __nv_cvt_float2_to_fp4x2, round to nearest.</summary>
    public void EncodeFp4(ComputeStream stream, Tensor input, Tensor output)
    {
        Validate(stream, input, output, DType.F32, nameof(input));
        output.Require(nameof(output), DType.Fp4E2M1);
        if (input.ElementCount == 0) return;
        EncodeFp4Core(stream, input, output);
    }

    /// <summary>F32 to BF16 or F16, as __float2bfloat16_rn / __float2half_rn.</summary>
    public void EncodeHalf(ComputeStream stream, Tensor input, Tensor output)
    {
        Validate(stream, input, output, DType.F32, nameof(input));
        if (!output.DType.IsHalfPrecisionFloat())
            throw new ArgumentException($"{nameof(output)} must be BF16 or F16, got {output}", nameof(output));
        if (input.ElementCount == 0) return;
        EncodeHalfCore(stream, input, output);
    }

    /// <summary>Fp8E4M3, Fp8E5M2 or packed Fp4E2M1 to F32 (exact), through the device's fp16 conversions.</summary>
    public void Decode(ComputeStream stream, Tensor input, Tensor output)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (input.IsEmpty) throw new ArgumentException($"{nameof(input)} is an empty tensor", nameof(input));
        if (input.DType is not (DType.Fp8E4M3 or DType.Fp8E5M2 or DType.Fp4E2M1))
            throw new ArgumentException($"{nameof(input)} must be Fp8E4M3, Fp8E5M2 or Fp4E2M1, got {input}", nameof(input));
        Validate(stream, input, output, input.DType, nameof(input));
        output.Require(nameof(output), DType.F32);
        if (input.ElementCount == 0) return;
        DecodeCore(stream, input, output);
    }

    /// <summary>The backend's kernel behind <see cref="EncodeFp8"/>, called once the arguments are checked.</summary>
    protected abstract void EncodeFp8Core(ComputeStream stream, Tensor input, Tensor output, Fp8Saturation saturation);
    /// <summary>The backend's kernel behind <see cref="EncodeFp4"/>, called once the arguments are checked.</summary>
    protected abstract void EncodeFp4Core(ComputeStream stream, Tensor input, Tensor output);
    /// <summary>The backend's kernel behind <see cref="EncodeHalf"/>, called once the arguments are checked.</summary>
    protected abstract void EncodeHalfCore(ComputeStream stream, Tensor input, Tensor output);
    /// <summary>The backend's kernel behind <see cref="Decode"/>, called once the arguments are checked.</summary>
    protected abstract void DecodeCore(ComputeStream stream, Tensor input, Tensor output);

    private static void Validate(ComputeStream stream, Tensor input, Tensor output, DType inputType, string inputName)
    {
        ArgumentNullException.ThrowIfNull(stream);
        input.Require(inputName, inputType).RequireDevice(inputName, stream.Device);
        if (output.IsEmpty) throw new ArgumentException($"{nameof(output)} is an empty tensor", nameof(output));
        output.RequireDevice(nameof(output), stream.Device);
        if (output.ElementCount != input.ElementCount)
            throw new ArgumentException($"{nameof(output)} {output} holds {output.ElementCount} elements, {inputName} {input} {input.ElementCount}", nameof(output));
    }
}

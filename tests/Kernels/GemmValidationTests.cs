using GraphEngine.Kernels;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Tests.Kernels;

public class GemmValidationTests
{
    [Theory]
    [InlineData(0x38, 1.0f)]
    [InlineData(0xB8, -1.0f)]
    [InlineData(0x7E, 448f)]          // largest finite e4m3
    [InlineData(0x01, 1f / 512f)]     // smallest subnormal, 2^-9
    [InlineData(0x08, 1f / 64f)]      // smallest normal, 2^-6
    [InlineData(0x00, 0f)]
    [InlineData(0x3C, 1.5f)]
    public void E4m3_decodes_exactly(int bits, float expected) =>
        Assert.Equal(expected, Fp8PerTensorGemm.DecodeE4M3((byte)bits));

    [Fact]
    public void E4m3_nan_codes_decode_to_nan()
    {
        Assert.True(float.IsNaN(Fp8PerTensorGemm.DecodeE4M3(0x7F)));
        Assert.True(float.IsNaN(Fp8PerTensorGemm.DecodeE4M3(0xFF)));
        Assert.Equal(2, Enumerable.Range(0, 256).Count(b => float.IsNaN(Fp8PerTensorGemm.DecodeE4M3((byte)b))));
    }

    [Fact]
    public void Fp8_gemm_rejects_bad_shapes_naming_the_value()
    {
        using var device = new ReferenceDevice();
        using var ba = device.AllocateTensor(DType.Fp8E4M3, new long[] { 4, 40 }, out var a);
        using var bw = device.AllocateTensor(DType.Fp8E4M3, new long[] { 16, 40 }, out var w);
        using var bs = device.AllocateTensor(DType.F32, new long[] { 1 }, out var s);
        using var bc = device.AllocateTensor(DType.BF16, new long[] { 4, 16 }, out var c);
        using var gemm = Fp8PerTensorGemm.Create(device);
        var e = Assert.Throws<ArgumentException>(() => gemm.MatMul(device.DefaultStream, a, s, w, s, c, 4));
        Assert.Contains("k = 40", e.Message);
        Assert.Equal("a", e.ParamName);

        using var bb = device.AllocateTensor(DType.BF16, new long[] { 4, 32 }, out var bf16);
        var t = Assert.Throws<ArgumentException>(() => gemm.MatMul(device.DefaultStream, bf16, s, w, s, c, 4));
        Assert.Contains("Fp8E4M3", t.Message);

        using var ba2 = device.AllocateTensor(DType.Fp8E4M3, new long[] { 4, 32 }, out var a2);
        using var bw2 = device.AllocateTensor(DType.Fp8E4M3, new long[] { 16, 32 }, out var w2);
        var r = Assert.Throws<ArgumentOutOfRangeException>(() => gemm.MatMul(device.DefaultStream, a2, s, w2, s, c, 5));
        Assert.Contains("5", r.Message);
        var sc = Assert.Throws<ArgumentException>(() => gemm.MatMul(device.DefaultStream, a2, c, w2, s, c, 4));
        Assert.Equal("aScale", sc.ParamName);
    }

    [Fact]
    public void Int8_gemm_rejects_bad_shapes_and_types_naming_the_value()
    {
        using var device = new ReferenceDevice();
        using var ba = device.AllocateTensor(DType.I8, new long[] { 4, 40 }, out var a);
        using var bw = device.AllocateTensor(DType.I8, new long[] { 16, 40 }, out var w);
        using var bc = device.AllocateTensor(DType.I32, new long[] { 4, 16 }, out var c);
        using var gemm = Int8Gemm.Create(device);
        var e = Assert.Throws<ArgumentException>(() => gemm.MatMul(device.DefaultStream, a, w, c, 4));
        Assert.Contains("k = 40", e.Message);
        Assert.Equal("a", e.ParamName);

        using var ba2 = device.AllocateTensor(DType.I8, new long[] { 4, 32 }, out var a2);
        using var bw2 = device.AllocateTensor(DType.I8, new long[] { 16, 32 }, out var w2);
        using var bf = device.AllocateTensor(DType.BF16, new long[] { 4, 16 }, out var cBf16);
        var t = Assert.Throws<ArgumentException>(() => gemm.MatMul(device.DefaultStream, a2, w2, cBf16, 4));
        Assert.Equal("c", t.ParamName);
        Assert.Contains("I32", t.Message);
        var r = Assert.Throws<ArgumentOutOfRangeException>(() => gemm.MatMul(device.DefaultStream, a2, w2, c, 5));
        Assert.Contains("5", r.Message);
    }

    [Fact]
    public void Half_gemm_rejects_mismatched_weights_naming_both_shapes()
    {
        using var device = new ReferenceDevice();
        using var ba = device.AllocateTensor(DType.BF16, new long[] { 3, 8 }, out var a);
        using var bw = device.AllocateTensor(DType.BF16, new long[] { 5, 9 }, out var w);
        using var bc = device.AllocateTensor(DType.BF16, new long[] { 3, 5 }, out var c);
        using var gemm = Gemm.Create(device);
        var e = Assert.Throws<ArgumentException>(() => gemm.MatMul(device.DefaultStream, a, w, c, 3));
        Assert.Contains("[5, 9]", e.Message);
        Assert.Equal("w", e.ParamName);
    }
}

using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Random;

namespace GraphEngine.Tests.Kernels.Moe;

/// <summary>
/// The SwiGLU epilogue of the group GEMM: its arguments are checked with messages that name the value, and the fused
/// result is the unfused product followed by MoePermute.SwiGlu, bit for bit (the rounding convention: gate and up
/// rounded to the activation type first, silu(g)·u in fp32 rounded once).
/// </summary>
public class GroupGemmEpilogueTests
{
    [Theory]
    [InlineData(TokenLayout.PrefixSum, ExpertWeightFormat.Half, "per-channel")]
    [InlineData(TokenLayout.Padded, ExpertWeightFormat.Half, "per-channel")]
    [InlineData(TokenLayout.PrefixSum, ExpertWeightFormat.Int8PerChannel, "per-channel")]
    [InlineData(TokenLayout.Padded, ExpertWeightFormat.Int4Group, "g64")]
    public void Fused_swiglu_equals_the_product_then_swiglu_bit_for_bit(TokenLayout layout, ExpertWeightFormat format, string groupText)
    {
        var group = GroupSize.Parse(groupText);
        using var device = new ReferenceDevice();
        var stream = device.DefaultStream;
        const int e = 3, f = 37, n = 2 * f, k = 128, p = 7;
        int[] counts = { 4, 0, 7 };
        bool prefix = layout == TokenLayout.PrefixSum;
        int rows = prefix ? counts.Sum() : e * p;
        using var sb = device.AllocateTensor(DType.BF16, new long[] { e, n, k }, out var src);
        RandomFill.Create(device).Uniform(stream, src, 3, 0.3f);
        using var weights = ExpertWeightsOnDevice(device, format, group, e, n, k);
        var gg = GroupGemm.Create(device);
        gg.Quantize(stream, src, weights.Weights);
        using var ab = device.AllocateTensor(DType.BF16, new long[] { rows, k }, out var a);
        using var hb = device.AllocateTensor(DType.BF16, new long[] { rows, n }, out var h);
        using var ub = device.AllocateTensor(DType.BF16, new long[] { rows, f }, out var unfused);
        using var fb = device.AllocateTensor(DType.BF16, new long[] { rows, f }, out var fused);
        RandomFill.Create(device).Uniform(stream, a, 4, 1f);
        int[] offsets = prefix ? new[] { 0, 4, 4, 11 } : counts;
        using var ob = device.AllocateTensor(DType.I32, new long[] { offsets.Length }, out var off);
        off.UploadInts(offsets);
        int bound = prefix ? rows : p;
        GroupGemmProblem Problem(Tensor c, GroupGemmEpilogue epilogue) => prefix
            ? new GroupGemmProblem(layout, e, n, k, bound, a, off, c, epilogue)
            : new GroupGemmProblem(layout, e, n, k, bound, a.Reshape(e, p, k), off, c.Reshape(e, p, c.Dim(1)), epilogue);
        unfused.Poison(stream);
        fused.Poison(stream);
        gg.Run(stream, Problem(h, GroupGemmEpilogue.None), weights.Weights);
        MoePermute.Create(device).SwiGlu(stream, h, unfused, rows, prefix ? RowValidity.PrefixSum : RowValidity.Padded, off, default, e, prefix ? 0 : p);
        gg.Run(stream, Problem(fused, GroupGemmEpilogue.SwiGlu), weights.Weights);
        var expected = unfused.DownloadFloats();
        var actual = fused.DownloadFloats();
        Assert.Equal(0, ErrorMetrics.BitMismatches(expected, actual));
        int valid = 0;
        foreach (var v in actual) valid += float.IsNaN(v) ? 0 : 1;
        Assert.Equal(counts.Sum() * f, valid);   // every valid row written, no padded slot
    }

    [Fact]
    public void An_odd_N_is_refused_naming_it()
    {
        var p = new GroupGemmProblem(TokenLayout.PrefixSum, 2, 75, 64, 8, default, default, default, GroupGemmEpilogue.SwiGlu);
        var ex = Assert.Throws<ArgumentException>(() => p.Validate(DType.BF16, DType.BF16));
        Assert.Contains("N = 75", ex.Message);
    }

    [Theory]
    [InlineData(TokenLayout.PrefixSum)]
    [InlineData(TokenLayout.Padded)]
    public void C_with_N_columns_is_refused_under_the_swiglu_epilogue(TokenLayout layout)
    {
        using var device = new ReferenceDevice();
        bool prefix = layout == TokenLayout.PrefixSum;
        using var ab = device.AllocateTensor(DType.BF16, prefix ? new long[] { 8, 64 } : new long[] { 2, 8, 64 }, out var a);
        using var cb = device.AllocateTensor(DType.BF16, prefix ? new long[] { 8, 40 } : new long[] { 2, 8, 40 }, out var c);
        using var ob = device.AllocateTensor(DType.I32, new long[] { prefix ? 3 : 2 }, out var off);
        var p = new GroupGemmProblem(layout, 2, 40, 64, 8, a, off, c, GroupGemmEpilogue.SwiGlu);
        var ex = Assert.Throws<ArgumentException>(() => p.Validate(DType.BF16, DType.BF16));
        Assert.Contains("20", ex.Message);   // the N / 2 columns C must have
        Assert.Equal("C", ex.ParamName);
        Assert.Equal(20, p.OutputColumns);
        (p with { Epilogue = GroupGemmEpilogue.None }).Validate(DType.BF16, DType.BF16);
    }

    [Fact]
    public void Kernels_without_the_epilogue_refuse_it()
    {
        var p = new GroupGemmProblem(TokenLayout.PrefixSum, 2, 40, 64, 8, default, default, default, GroupGemmEpilogue.SwiGlu);
        var ex = Assert.Throws<ArgumentException>(() => p.RequirePlainEpilogue("the nvfp4 group GEMM"));
        Assert.Contains("nvfp4", ex.Message);
        Assert.Contains("SwiGlu", ex.Message);
        (p with { Epilogue = GroupGemmEpilogue.None }).RequirePlainEpilogue("the nvfp4 group GEMM");
    }

    [Theory]
    [InlineData(ExpertWeightFormat.Half, 2560, 96, "group_gemm_wgmma<T, 64, 128, 4")]
    [InlineData(ExpertWeightFormat.Half, 2560, 12288, "group_gemm_tma<T, 256, 4")]
    [InlineData(ExpertWeightFormat.Half, 2561, 6, "group_gemm<T, 0, 16, 128")]
    [InlineData(ExpertWeightFormat.Int8PerChannel, 2560, 1536, "group_gemm_tma_int<T, 1, 0, 256, 4")]
    [InlineData(ExpertWeightFormat.Int8PerChannel, 2560, 12288, "group_gemm_tma_int<T, 1, 0, 256, 4")]
    [InlineData(ExpertWeightFormat.Int4PerChannel, 2560, 1024, "group_gemm_tma_int<T, 2, 0, 256, 4")]
    public void The_epilogue_picks_the_swiglu_instance_of_the_same_tile(ExpertWeightFormat f, int k, int rowsBound, string tile)
    {
        var w = new ExpertWeights(f, default, default, default, GroupSize.PerChannel);
        var plain = new GroupGemmProblem(TokenLayout.PrefixSum, 64, 3072, k, rowsBound, default, default, default);
        Assert.Equal(tile + ">", GroupGemm.Variant(plain, w, LaunchTarget.H200));
        Assert.Equal(tile + ", 1>", GroupGemm.Variant(plain with { Epilogue = GroupGemmEpilogue.SwiGlu }, w, LaunchTarget.H200));
    }

    [Theory]
    [InlineData(ExpertWeightFormat.Half, 0)]
    [InlineData(ExpertWeightFormat.Int8PerChannel, 1)]
    [InlineData(ExpertWeightFormat.Int4PerChannel, 2)]
    public void At_few_rows_the_weight_streaming_kernel_takes_the_swiglu_flag(ExpertWeightFormat f, int mode)
    {
        var w = new ExpertWeights(f, default, default, default, GroupSize.PerChannel);
        var plain = new GroupGemmProblem(TokenLayout.PrefixSum, 64, 3072, 2560, 6, default, default, default);
        Assert.Equal($"group_gemm_stream<T, {mode}, 0, 8, 0>", GroupGemm.Variant(plain, w, LaunchTarget.H200));
        Assert.Equal($"group_gemm_stream<T, {mode}, 0, 8, 1>", GroupGemm.Variant(plain with { Epilogue = GroupGemmEpilogue.SwiGlu }, w, LaunchTarget.H200));
    }

    private sealed class OwnedWeights(ExpertWeights weights, IDisposable[] owned) : IDisposable
    {
        public ExpertWeights Weights { get; } = weights;
        public void Dispose() { foreach (var d in owned) d.Dispose(); }
    }

    private static OwnedWeights ExpertWeightsOnDevice(Device device, ExpertWeightFormat format, GroupSize group, int e, int n, int k)
    {
        var owned = new List<IDisposable> { device.AllocateTensor(ExpertWeights.WeightType(format, DType.BF16), new long[] { e, n, k }, out var w) };
        Tensor s = default;
        if (format != ExpertWeightFormat.Half)
            owned.Add(device.AllocateTensor(DType.F32, new long[] { e, n, group.IsPerChannel ? 1 : group.Groups(k) }, out s));
        return new OwnedWeights(new ExpertWeights(format, w, s, default, group), owned.ToArray());
    }
}

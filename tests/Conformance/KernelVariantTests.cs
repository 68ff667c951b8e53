using GraphEngine.Conformance;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Norm;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Tests.Conformance;

/// <summary>
/// Every kernel the launchers can select on the H200 (sm_90) is run by at least one conformance case, each
/// case's declared variants are names a launcher can return, and the variants only other architectures select
/// are the ones the rules say (half-weight group GEMMs take the wgmma kernel on sm_90, so the cp.async pipeline
/// for half weights runs only on sm_80/86/89 and Blackwell).
/// </summary>
public sealed class KernelVariantTests
{
    private static readonly LaunchTarget H200 = LaunchTarget.H200;

    [Fact]
    public void Every_variant_selectable_on_sm90_is_reached_by_a_case()
    {
        var table = KernelVariants.Table(H200, ConformanceSuite.All);
        var onTarget = table.Where(r => r.OnTarget).ToArray();
        Assert.True(onTarget.Length >= 100, $"only {onTarget.Length} variants enumerated");
        var unreached = onTarget.Where(r => r.Cases.Count == 0).Select(r => $"{r.Family}: {r.Name}").ToArray();
        Assert.True(unreached.Length == 0, "variants no case runs on sm_90:\n" + string.Join("\n", unreached));
        // Every family selects something on sm_90 but the IMMA path's scale pass, which the TMA kernel replaces there: its
        // kernel is another GPU's pick, run here by the cases that force it.
        var offTarget = KernelVariants.Families.Where(f => !onTarget.Any(r => r.Family == f.Family)).Select(f => f.Family).ToArray();
        Assert.Equal(new[] { "gemm/int8_scale_epilogue" }, offTarget);
        var epilogue = table.Single(r => r.Name == Int8ScaleEpilogue.KernelName);
        Assert.Contains("sm_89", epilogue.Architectures);
        Assert.DoesNotContain("sm_90", epilogue.Architectures);
        Assert.NotEmpty(epilogue.Cases);
    }

    [Fact]
    public void W8a8_at_many_rows_runs_the_tma_kernel_on_sm90_and_the_imma_path_elsewhere()
    {
        string tma = Int8ActGemm.KernelName(Int8ActGemmVariant.Tma, WeightOnlyFormat.Int8, false);
        Assert.Equal("int8_act_tma<T, 4>", tma);
        var table = KernelVariants.Table(H200, ConformanceSuite.All);
        var row = table.Single(r => r.Name == tma);
        Assert.True(row.OnTarget);
        Assert.Equal(new[] { "sm_90" }, row.Architectures);
        // Both every-variant cases force it, and the Linear cases from 256 host rows reach it through the rule.
        Assert.Contains(row.Cases, c => c.StartsWith("lowprec/w8a8/gemm/every-variant/bf16/m=29/", StringComparison.Ordinal));
        Assert.Contains(row.Cases, c => c.StartsWith("lowprec/w8a8/gemm/every-variant/bf16/m=283/", StringComparison.Ordinal));
        Assert.Contains("lowprec/w8a8/graph-replay/many-rows/m=283", row.Cases);
        Assert.Contains("lowprec/w8a8/linear/f16/m=1000/n=264/k=520", row.Cases);
        Assert.DoesNotContain(row.Cases, c => c.StartsWith("lowprec/w4a8", StringComparison.Ordinal));
    }

    [Fact]
    public void Cases_declare_only_names_a_launcher_can_return()
    {
        var unknown = KernelVariants.Unknown(H200, ConformanceSuite.All);
        Assert.True(unknown.Count == 0, string.Join("\n", unknown.Select(u => $"{u.Case}: {u.Variant}")));
    }

    [Fact]
    public void Only_the_pipelined_group_gemm_tiles_are_left_to_other_architectures()
    {
        var others = KernelVariants.Table(H200, ConformanceSuite.All).Where(r => !r.OnTarget && r.Cases.Count == 0).ToArray();
        Assert.NotEmpty(others);
        Assert.All(others, r =>
        {
            // On sm_90 the wgmma kernels take half weights at any row count and integer codes from tens of rows per
            // expert (K a multiple of 64), so the mma.sync pipelined tiles of those regimes are other GPUs' picks.
            Assert.StartsWith("group_gemm_pipe<T, ", r.Name);
            Assert.DoesNotContain("sm_90", r.Architectures);
            Assert.Contains("sm_89", r.Architectures);
        });
        // mma.sync block_fp8 is sm_89's pick but runs here too: the every-variant cases force it.
        var mma = KernelVariants.Table(H200, ConformanceSuite.All).Single(r => r.Name == BlockFp8Gemm.KernelName(BlockFp8GemmVariant.MmaSync));
        Assert.False(mma.OnTarget);
        Assert.NotEmpty(mma.Cases);
    }

    [Theory]
    [InlineData(770, 2)]      // 2 mod 4
    [InlineData(1028, 4)]     // 4 mod 8
    [InlineData(769, 1)]
    [InlineData(2560, 8)]
    public void Rmsnorm_vector_width_follows_the_hidden_size_and_both_weight_timings_are_cases(int hidden, int vec)
    {
        Assert.StartsWith($"rms_norm<T, {vec}, ", RmsNormKernel.Variant(hidden, 1, H200));
        Assert.EndsWith("true>", RmsNormKernel.Variant(hidden, 2 * H200.SmCount, H200));
        Assert.EndsWith("false>", RmsNormKernel.Variant(hidden, 2 * H200.SmCount + 1, H200));
        var reached = ConformanceSuite.All.SelectMany(c => c.VariantsOn(H200)).ToHashSet();
        Assert.Contains(RmsNormKernel.Variant(hidden, 1, H200), reached);
        Assert.Contains(RmsNormKernel.Variant(hidden, 1000, H200), reached);
    }

    [Fact]
    public void Variant_names_are_the_launchers_instances_with_the_type_left_open()
    {
        var half = new ExpertWeights(ExpertWeightFormat.Half, default, default, default, GroupSize.PerChannel);
        var p = new GroupGemmProblem(TokenLayout.PrefixSum, 64, 3072, 2560, 12288, default, default, default);
        Assert.Equal("group_gemm_tma<T, 256, 4>", GroupGemm.Variant(p, half, H200));
        Assert.Equal("group_gemm_wgmma<T, 64, 128, 4>", GroupGemm.Variant(p with { RowsBound = 96 }, half, H200));
        Assert.StartsWith("group_gemm_pipe<T, 0, 0, 128, 128, 64, 64, 3, 2, 4, 2>", GroupGemm.Variant(p, half, H200.WithArchitecture(8, 9)));
        Assert.Equal("group_gemm<T, 0, 16, 128>", GroupGemm.Variant(p with { K = 2561, RowsBound = 6 }, half, H200));
        Assert.Equal("wo_dequantize<T, true, 128> + cuBLASLt", WeightOnlyGemm.Variant(WeightOnlyScheme.Int4Group(128), 77, 256, 17, 17, H200));
        Assert.Equal("wo_gemv<T, false, 0, 1, 1>", WeightOnlyGemm.Variant(WeightOnlyScheme.Int8PerChannel, 77, 256, 1, 1, H200));
        Assert.Equal("wo_gemm_small<T, false, 0, 1>", WeightOnlyGemm.Variant(WeightOnlyScheme.Int8PerChannel, 40, 16384, 8, 8, H200));
        Assert.Equal("block_fp8_gemm_wgmma<T, 4>", BlockFp8Gemm.KernelName(BlockFp8Gemm.ChooseVariant(9, 0, 83, 136, 384)));
        Assert.Equal("moe_router_fp32<T>, 1-wide loads", MoeRouting.RouterVariant(GraphEngine.Kernels.DType.BF16, 70, 64, 128, H200));
        Assert.Equal("moe_router_tiled<T, 64>, top-k fused, 4-wide loads", MoeRouting.RouterVariant(GraphEngine.Kernels.DType.BF16, 2560, 64, 2048, H200));
        Assert.Equal("moe_router_tiled<T, 16>, logits only, 4-wide loads", MoeRouting.RouterVariant(GraphEngine.Kernels.DType.BF16, 2560, 64, 1040, H200));
        Assert.Equal(new[] { "moe_router_tiled<T, 64>, top-k fused, 4-wide loads", "moe_assign" }, MoeRouting.RoutingVariants(true, GraphEngine.Kernels.DType.BF16, 2560, 64, 2048, H200));
        Assert.Equal(new[] { "moe_topk_assign<T, 4>" }, MoeRouting.RoutingVariants(false, GraphEngine.Kernels.DType.BF16, 2048, 128, 16, H200));
        Assert.Equal("moe_swiglu<T>, columns split over blocks", MoePermute.SwiGluVariant(1, 1536, H200));
        Assert.Equal("moe_combine<T>, one block per row", MoePermute.CombineVariant(1024, 2560, H200));
    }
}

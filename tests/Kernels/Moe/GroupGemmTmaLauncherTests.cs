using GraphEngine.Kernels;
using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Tests.Kernels.Moe;

/// <summary>
/// The TMA group GEMMs' choice and their tensor maps' argument checks are host arithmetic, checked here without a GPU:
/// where the rule hands a problem to group_gemm_tma (half weights on sm_90, K a multiple of 8, from 48 rows per
/// expert) or group_gemm_tma_int (integer codes with 16-byte code rows, groups of a multiple of 64, from 48 rows per
/// expert), that their rings fit one SM's shared memory, and that a map the TMA could not use is refused before the
/// driver is asked to encode it.
/// </summary>
public class GroupGemmTmaLauncherTests
{
    // cudaDevAttrMaxSharedMemoryPerBlockOptin on sm_90 (227 KiB).
    private const int SharedLimit = 232448;

    private static readonly ExpertWeights Half = new(ExpertWeightFormat.Half, default, default, default, GroupSize.PerChannel);

    private static GroupGemmProblem Ernie(int rows, int k = 2560) => new(TokenLayout.PrefixSum, 64, 3072, k, rows, default, default, default);

    [Theory]
    [InlineData(12288)]   // ERNIE n = 2048: 192 rows per expert
    [InlineData(3072)]    // n = 512: 48, the first that takes it
    public void Half_weights_with_tens_of_rows_per_expert_take_the_tma_kernel_on_sm90(int rows)
    {
        var c = GroupGemmCuda.Tma(Ernie(rows), Half, 9, 0);
        Assert.Equal(new GroupGemmCuda.TmaConfig(256, 4), c);
        Assert.InRange(c!.Value.SharedBytes, 1, SharedLimit);
        Assert.StartsWith("group_gemm_tma<T, 256, 4", GroupGemm.Variant(Ernie(rows), Half, LaunchTarget.H200));
    }

    [Fact]
    public void The_tma_kernel_is_never_chosen_where_it_cannot_run_or_measured_no_faster()
    {
        Assert.Null(GroupGemmCuda.Tma(Ernie(768), Half, 9, 0));                 // n = 128: 12 rows per expert
        Assert.Null(GroupGemmCuda.Tma(Ernie(12288), Half, 8, 9));               // no TMA or wgmma before sm_90
        Assert.Null(GroupGemmCuda.Tma(Ernie(12288), Half, 10, 0));              // sm_90a instructions only
        Assert.Null(GroupGemmCuda.Tma(Ernie(12288, k: 2564), Half, 9, 0));      // rows not 16-byte multiples
        Assert.Null(GroupGemmCuda.Tma(Ernie(12288), Weights(ExpertWeightFormat.Int4ZeroPointGroup, GroupSize.Of(128)), 9, 0));   // wi4a16: its own kernel
    }

    private static ExpertWeights Weights(ExpertWeightFormat f, GroupSize g) => new(f, default, default, default, g);

    // ERNIE n = 2048 and n = 512 (192 and 48 rows per expert); the int4 groups FastDeploy uses (128) and the smallest (64).
    [Theory]
    [InlineData(ExpertWeightFormat.Int8PerChannel, 0, 12288, "group_gemm_tma_int<T, 1, 0, 256, 4")]
    [InlineData(ExpertWeightFormat.Int8PerChannel, 0, 3072, "group_gemm_tma_int<T, 1, 0, 256, 4")]
    [InlineData(ExpertWeightFormat.Int4PerChannel, 0, 12288, "group_gemm_tma_int<T, 2, 0, 256, 4")]
    [InlineData(ExpertWeightFormat.Int4Group, 128, 3072, "group_gemm_tma_int<T, 2, 1, 128, 4")]
    [InlineData(ExpertWeightFormat.Int4Group, 64, 12288, "group_gemm_tma_int<T, 2, 1, 128, 4")]
    public void Integer_codes_with_tens_of_rows_per_expert_take_the_tma_kernel_on_sm90(ExpertWeightFormat f, int group, int rows, string name)
    {
        var w = Weights(f, group == 0 ? GroupSize.PerChannel : GroupSize.Of(group));
        var c = GroupGemmCuda.Tma(Ernie(rows), w, 9, 0)!.Value;
        Assert.True(c.Integer);
        Assert.Equal(f == ExpertWeightFormat.Int4Group, c.Grouped);
        Assert.InRange(c.SharedBytes, 1, SharedLimit);
        Assert.Equal(name + ">", GroupGemm.Variant(Ernie(rows), w, LaunchTarget.H200));
        Assert.Equal(name + ", 1>", GroupGemm.Variant(Ernie(rows) with { Epilogue = GroupGemmEpilogue.SwiGlu }, w, LaunchTarget.H200));
    }

    [Fact]
    public void Integer_codes_keep_the_other_kernels_where_the_tma_kernel_does_not_apply()
    {
        var int8 = Weights(ExpertWeightFormat.Int8PerChannel, GroupSize.PerChannel);
        var int4 = Weights(ExpertWeightFormat.Int4PerChannel, GroupSize.PerChannel);
        var g128 = Weights(ExpertWeightFormat.Int4Group, GroupSize.Of(128));
        // Below the thresholds the pipelined tiles: per channel below 12 rows per expert, grouped below 48.
        Assert.Null(GroupGemmCuda.Tma(Ernie(64 * (GroupGemmCuda.TmaPerChannelRows - 1)), int8, 9, 0));
        Assert.StartsWith("group_gemm_pipe<", GroupGemm.Variant(Ernie(64 * (GroupGemmCuda.TmaPerChannelRows - 1)), int4, LaunchTarget.H200));
        Assert.NotNull(GroupGemmCuda.Tma(Ernie(64 * GroupGemmCuda.TmaPerChannelRows), int8, 9, 0));
        Assert.NotNull(GroupGemmCuda.Tma(Ernie(64 * GroupGemmCuda.TmaPerChannelRows), int4, 9, 0));
        Assert.StartsWith("group_gemm_tma_int<T, 1, 0, 256, 4", GroupGemm.Variant(Ernie(64 * 30), int8, LaunchTarget.H200));
        Assert.Null(GroupGemmCuda.Tma(Ernie(64 * (GroupGemmCuda.TmaGroupedRows - 1)), g128, 9, 0));
        Assert.StartsWith("group_gemm_pipe<", GroupGemm.Variant(Ernie(64 * 30), g128, LaunchTarget.H200));
        Assert.NotNull(GroupGemmCuda.Tma(Ernie(64 * GroupGemmCuda.TmaGroupedRows), g128, 9, 0));
        // Code rows that are not 16-byte multiples (the TMA's strides): int8 K % 16, int4 K % 32.
        Assert.Null(GroupGemmCuda.Tma(Ernie(12288, k: 2568), int8, 9, 0));
        Assert.NotNull(GroupGemmCuda.Tma(Ernie(12288, k: 2576), int8, 9, 0));
        Assert.Null(GroupGemmCuda.Tma(Ernie(12288, k: 2576), int4, 9, 0));
        Assert.NotNull(GroupGemmCuda.Tma(Ernie(12288, k: 2592), int4, 9, 0));
        // Groups that a 64-wide K tile would span, or that do not divide K.
        Assert.Null(GroupGemmCuda.Tma(Ernie(12288, k: 2560), Weights(ExpertWeightFormat.Int4Group, GroupSize.Of(32)), 9, 0));
        Assert.Null(GroupGemmCuda.Tma(Ernie(12288, k: 2560 + 64), Weights(ExpertWeightFormat.Int4Group, GroupSize.Of(128)), 9, 0));
        // Other architectures, and the bench's switch back to the kernels the TMA one replaced.
        Assert.Null(GroupGemmCuda.Tma(Ernie(12288), int8, 8, 9));
        Assert.Null(GroupGemmCuda.Tma(Ernie(12288), int8, 10, 0));
        GroupGemmCuda.ForceCpAsync = true;
        try
        {
            Assert.Null(GroupGemmCuda.Tma(Ernie(12288), int8, 9, 0));
            Assert.StartsWith("group_gemm_pipe<", GroupGemm.Variant(Ernie(12288), int8, LaunchTarget.H200));
            Assert.StartsWith("group_gemm_pipe<", GroupGemm.Variant(Ernie(12288), Weights(ExpertWeightFormat.Int4Group, GroupSize.Of(128)), LaunchTarget.H200));
        }
        finally
        {
            GroupGemmCuda.ForceCpAsync = false;
        }
        // A forced integer configuration replaces the rule's only for its format, at any rows, and only on sm_90.
        GroupGemmCuda.TmaOverride = new GroupGemmCuda.TmaConfig(256, 5, ExpertWeightFormat.Int8PerChannel);
        try
        {
            Assert.Equal(GroupGemmCuda.TmaOverride, GroupGemmCuda.Tma(Ernie(12288), int8, 9, 0));
            Assert.Equal(GroupGemmCuda.TmaOverride, GroupGemmCuda.Tma(Ernie(64 * 12), int8, 9, 0));
            Assert.Null(GroupGemmCuda.Tma(Ernie(12288), int8, 10, 0));
            Assert.Equal(new GroupGemmCuda.TmaConfig(256, 4, ExpertWeightFormat.Int4PerChannel), GroupGemmCuda.Tma(Ernie(12288), int4, 9, 0));
            Assert.Equal(new GroupGemmCuda.TmaConfig(256, 4), GroupGemmCuda.Tma(Ernie(12288), Half, 9, 0));
        }
        finally
        {
            GroupGemmCuda.TmaOverride = null;
        }
    }

    [Fact]
    public void The_bench_ab_kernels_are_variants_the_check_reaches_and_the_switch_is_restored()
    {
        // 128 x 256 cp.async wgmma tiles: what the rule picks at 96 rows per expert without the TMA kernel, the bench's
        // "bf16 [cp.async wgmma]" at 2048 ERNIE tokens; never the engine's pick on sm_90, so only the A/B reaches it.
        const string ab = "group_gemm_wgmma<T, 128, 256, 4>";
        Assert.Contains(ab, GroupGemm.Variants(LaunchTarget.H200));
        Assert.Equal(ab, GroupGemmCuda.WithoutTma(() => GroupGemm.Variant(Ernie(12288), Half, LaunchTarget.H200)));
        Assert.StartsWith("group_gemm_tma<", GroupGemm.Variant(Ernie(12288), Half, LaunchTarget.H200));
        Assert.Throws<InvalidOperationException>(() => GroupGemmCuda.WithoutTma<int>(() => throw new InvalidOperationException("body")));
        Assert.False(GroupGemmCuda.ForceCpAsync);
        var reached = GraphEngine.Conformance.ConformanceSuite.All.Where(c => c.VariantsOn(LaunchTarget.H200).Contains(ab)).Select(c => c.Name).ToArray();
        Assert.Contains(reached, n => n.StartsWith("moe/group-gemm/bf16/cp-async/", StringComparison.Ordinal));
    }

    [Fact]
    public void The_integer_tma_rings_fit_one_sm_and_match_the_kernels_layout()
    {
        // gti_smem: two decoded 256 x 128-byte tiles, four stages of A (128 x 128 bytes) and codes (256 x 64 bytes int8,
        // 256 x 32 int4), eight mbarriers, 1 KiB of alignment.
        Assert.Equal(2 * 32768 + 4 * (16384 + 16384) + 64 + 1024, new GroupGemmCuda.TmaConfig(256, 4, ExpertWeightFormat.Int8PerChannel).SharedBytes);
        Assert.Equal(2 * 32768 + 4 * (16384 + 8192) + 64 + 1024, new GroupGemmCuda.TmaConfig(256, 4, ExpertWeightFormat.Int4PerChannel).SharedBytes);
        Assert.Equal(2 * 16384 + 4 * (16384 + 4096) + 64 + 1024, new GroupGemmCuda.TmaConfig(128, 4, ExpertWeightFormat.Int4Group).SharedBytes);
        // int8 has room for a fifth stage, not a sixth: what an A/B of deeper rings could try.
        Assert.InRange(new GroupGemmCuda.TmaConfig(256, 5, ExpertWeightFormat.Int8PerChannel).SharedBytes, 1, SharedLimit);
        Assert.True(new GroupGemmCuda.TmaConfig(256, 6, ExpertWeightFormat.Int8PerChannel).SharedBytes > SharedLimit);
    }

    [Fact]
    public void Every_tma_configuration_the_bench_compares_fits_one_sm()
    {
        foreach (var c in new[] { new GroupGemmCuda.TmaConfig(256, 4), new GroupGemmCuda.TmaConfig(128, 6) })
            Assert.InRange(c.SharedBytes, 1, SharedLimit);
        Assert.True(new GroupGemmCuda.TmaConfig(256, 5).SharedBytes > SharedLimit, "a fifth 48 KiB stage does not fit");
    }

    [Fact]
    public void Tensor_maps_the_tma_cannot_use_are_refused_before_the_driver()
    {
        var at = new DevicePtr(1 << 20);
        Assert.Contains("rank", TensorMapRefusal.Swizzled(DType.BF16, at, new ulong[] { 64, 2, 2, 2 }, new uint[] { 64, 1, 1, 1 }));
        Assert.Contains("BF16, F16, I8 or U8", TensorMapRefusal.Swizzled(DType.F32, at, new ulong[] { 64, 128 }, new uint[] { 64, 128 }));
        Assert.Contains("128-byte swizzle", TensorMapRefusal.Swizzled(DType.BF16, at, new ulong[] { 64, 128 }, new uint[] { 32, 128 }));
        Assert.Contains("16 bytes", TensorMapRefusal.Swizzled(DType.F16, at, new ulong[] { 60, 128 }, new uint[] { 64, 128 }));
        Assert.Contains("16-byte aligned", TensorMapRefusal.Swizzled(DType.BF16, new DevicePtr((1 << 20) + 8), new ulong[] { 64, 128 }, new uint[] { 64, 128 }));
        // The codes' byte maps: no swizzle, so any inner extent of 16-byte multiples; rows of 16-byte multiples.
        Assert.Contains("multiple of 16", TensorMapRefusal.Bytes(at, new ulong[] { 2560, 3072, 64 }, new uint[] { 40, 128, 1 }));
        Assert.Contains("16 bytes", TensorMapRefusal.Bytes(at, new ulong[] { 1284, 3072, 64 }, new uint[] { 32, 128, 1 }));
        Assert.Contains("rank", TensorMapRefusal.Bytes(at, new ulong[] { 64 }, new uint[] { 64 }));
    }
}

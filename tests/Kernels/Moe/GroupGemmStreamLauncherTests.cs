using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Tests.Kernels.Moe;

/// <summary>
/// The weight-streaming kernel's launch (GroupGemmCuda.Stream) is host arithmetic: where it is chosen, and that every
/// configuration it returns is one the kernel can run (every K block in exactly one split, shared memory within
/// 64 KiB, the split sums within the stream's scratch, the grid within CUDA's limits).
/// </summary>
public class GroupGemmStreamLauncherTests
{
    private static ExpertWeights Weights(ExpertWeightFormat f, int group = 0) =>
        new(f, default, default, default, group == 0 ? GroupSize.PerChannel : GroupSize.Of(group));

    private static readonly (ExpertWeightFormat F, int Group)[] Formats =
    {
        (ExpertWeightFormat.Half, 0), (ExpertWeightFormat.Int8PerChannel, 0), (ExpertWeightFormat.Int4PerChannel, 0),
        (ExpertWeightFormat.Int4Group, 128), (ExpertWeightFormat.Int4Group, 256),
    };

    public static IEnumerable<object[]> Shapes()
    {
        foreach (var (f, g) in Formats)
            foreach (var (n, k) in new[] { (3072, 2560), (2560, 1536), (7168, 8192), (71, 256), (400, 1024), (33, 16384) })
                foreach (var layout in new[] { TokenLayout.PrefixSum, TokenLayout.Padded })
                    foreach (int rows in new[] { 1, 6, 16, 64, 96, 512 })
                        if (g == 0 || k % g == 0)
                            yield return new object[] { f, g, n, k, layout, rows };
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Every_chosen_launch_is_one_the_kernel_can_run(ExpertWeightFormat f, int group, int n, int k, TokenLayout layout, int rows)
    {
        var p = new GroupGemmProblem(layout, 64, n, k, rows, default, default, default);
        if (GroupGemmCuda.Stream(p, Weights(f, group), LaunchTarget.H200) is not { } c) return;
        int kBlocks = (k + c.KBlock - 1) / c.KBlock;
        Assert.True(c.Splits * c.KBlocksPerSplit >= kBlocks, $"{c}: K blocks past the last split");
        Assert.True((c.Splits - 1) * c.KBlocksPerSplit < kBlocks, $"{c}: an empty split");
        Assert.InRange(c.SharedBytes, 1, GroupGemmCuda.StreamConfig.MaxSharedBytes);
        Assert.Equal((n + 31) / 32, c.ColumnBlocks);
        Assert.InRange(c.Tiles, 1, 65535);
        // Each real tile holds at least one row and at most 8; an expert with r rows has ceil(r / 8) tiles.
        long rowBound = layout == TokenLayout.PrefixSum ? rows : 64L * rows;
        Assert.True(c.Tiles >= (rowBound + 7) / 8 && c.Tiles <= Math.Max(1, rowBound), $"{c}: tiles for {rows} rows");
        if (c.Splits > 1)
        {
            Assert.InRange(c.Blocks, 1, SplitKScratch.Tickets);
            Assert.InRange(c.PartialFloats, 1, SplitKScratch.PartialFloats);
        }
        Assert.StartsWith("group_gemm_stream<T, ", GroupGemmCuda.KernelName("T", p, Weights(f, group), LaunchTarget.H200));
        // Three K blocks in flight only for half weights whose whole grid fits one wave at four blocks an SM.
        bool deep = f == ExpertWeightFormat.Half && c.Blocks * c.Splits <= 4L * LaunchTarget.H200.SmCount;
        Assert.Equal(deep ? 3 : 2, c.Depth);
        Assert.Equal(deep, GroupGemmCuda.KernelName("T", p, Weights(f, group), LaunchTarget.H200).EndsWith(", 3>", StringComparison.Ordinal));
    }

    // ERNIE-4.5 at one token: the down projection's 480 blocks fit one wave and go three deep (17.9 -> 17.0 us on the H200);
    // gate/up's 1152 blocks do not (three deep took it from 33.0 to 38.2 us); integer weights are bound by their decode.
    [Theory]
    [InlineData(ExpertWeightFormat.Half, 2560, 1536, 3)]
    [InlineData(ExpertWeightFormat.Half, 3072, 2560, 2)]
    [InlineData(ExpertWeightFormat.Int8PerChannel, 2560, 1536, 2)]
    [InlineData(ExpertWeightFormat.Int4Group, 2560, 1536, 2)]
    public void At_one_token_only_the_half_down_projection_keeps_three_K_blocks_in_flight(ExpertWeightFormat f, int n, int k, int depth)
    {
        var p = new GroupGemmProblem(TokenLayout.PrefixSum, 64, n, k, 6, default, default, default);
        var c = GroupGemmCuda.Stream(p, Weights(f, f == ExpertWeightFormat.Int4Group ? 128 : 0), LaunchTarget.H200)!.Value;
        Assert.Equal(depth, c.Depth);
    }

    [Theory]
    [InlineData(ExpertWeightFormat.Half, 65536, 32768)]
    [InlineData(ExpertWeightFormat.Int8PerChannel, 65536, 65536)]
    [InlineData(ExpertWeightFormat.Int4PerChannel, 131072, 65536)]
    public void An_expert_of_4_GiB_or_more_is_left_to_the_other_kernels(ExpertWeightFormat f, int n, int k)
    {
        Assert.True(GroupGemmCuda.ExpertWeightBytes(f, n, k) > uint.MaxValue);
        Assert.True(GroupGemmCuda.ExpertWeightBytes(f, n / 2, k) <= uint.MaxValue);
        var p = new GroupGemmProblem(TokenLayout.PrefixSum, 8, n, k, 1, default, default, default);
        Assert.Null(GroupGemmCuda.Stream(p, Weights(f), LaunchTarget.H200));
    }

    // The issue's shape at n = 1 (6 rows, 6 experts hit): 6 tiles x 96 column blocks is 576 blocks, so half gate/up (40 K
    // blocks of 64) splits in two for about 8 blocks per SM, each split keeping 20 K blocks (five per warp); the down GEMM
    // (N = 2560, K = 1536: 24) and the integer gate/up (20 K blocks of 128) have too few K blocks to split.
    [Theory]
    [InlineData(ExpertWeightFormat.Half, 3072, 2560, 2, 20)]
    [InlineData(ExpertWeightFormat.Half, 2560, 1536, 1, 24)]
    [InlineData(ExpertWeightFormat.Int8PerChannel, 3072, 2560, 1, 20)]
    [InlineData(ExpertWeightFormat.Int4Group, 3072, 2560, 1, 20)]
    public void At_one_token_the_issue_shape_splits_K_to_fill_the_GPU(ExpertWeightFormat f, int n, int k, int splits, int perSplit)
    {
        var p = new GroupGemmProblem(TokenLayout.PrefixSum, 64, n, k, 6, default, default, default);
        var c = GroupGemmCuda.Stream(p, Weights(f, f == ExpertWeightFormat.Int4Group ? 128 : 0), LaunchTarget.H200)!.Value;
        Assert.Equal(6, c.Tiles);
        Assert.Equal(splits, c.Splits);
        Assert.Equal(perSplit, c.KBlocksPerSplit);
    }

    [Fact]
    public void Many_blocks_need_no_split()
    {
        // n = 16: 96 rows, at most 76 tiles x 96 column blocks, far more than 8 per SM.
        var p = new GroupGemmProblem(TokenLayout.PrefixSum, 64, 3072, 2560, 96, default, default, default);
        var c = GroupGemmCuda.Stream(p, Weights(ExpertWeightFormat.Int8PerChannel), LaunchTarget.H200)!.Value;
        Assert.Equal(1, c.Splits);
        Assert.Equal(0, c.PartialFloats);
        Assert.Equal(76, c.Tiles);
    }

    [Fact]
    public void It_is_not_chosen_where_it_cannot_run_or_does_not_pay()
    {
        var p = new GroupGemmProblem(TokenLayout.PrefixSum, 64, 3072, 2560, 6, default, default, default);
        var half = Weights(ExpertWeightFormat.Half);
        var h200 = LaunchTarget.H200;
        Assert.NotNull(GroupGemmCuda.Stream(p, half, h200));
        Assert.NotNull(GroupGemmCuda.Stream(p with { RowsBound = 512 }, Weights(ExpertWeightFormat.Int8PerChannel), h200));   // 8 rows per expert
        Assert.Null(GroupGemmCuda.Stream(p with { RowsBound = 576 }, half, h200));                         // 9: the tiled kernels
        Assert.Null(GroupGemmCuda.Stream(p with { Layout = TokenLayout.Padded, RowsBound = 72 }, half, h200));   // P / 8 = 9
        Assert.Null(GroupGemmCuda.Stream(p with { K = 2564 }, half, h200));                                // 16-byte chunks across K's end
        Assert.Null(GroupGemmCuda.Stream(p with { K = 2568 }, Weights(ExpertWeightFormat.Int8PerChannel), h200));
        Assert.Null(GroupGemmCuda.Stream(p with { K = 2576 }, Weights(ExpertWeightFormat.Int4PerChannel), h200));
        Assert.Null(GroupGemmCuda.Stream(p, Weights(ExpertWeightFormat.Int4Group, 64), h200));             // a K block would span two groups
        Assert.Null(GroupGemmCuda.Stream(p, Weights(ExpertWeightFormat.Int4ZeroPointGroup, 128), h200));   // wi4a16 has its own kernel
        Assert.Null(GroupGemmCuda.Stream(p, half, h200.WithArchitecture(7, 5)));                           // bf16 mma.sync is sm_80+
        foreach (var (major, minor) in LaunchTarget.Architectures)
            Assert.NotNull(GroupGemmCuda.Stream(p, half, h200.WithArchitecture(major, minor)));
    }

    [Fact]
    public void A_launch_whose_splits_cannot_fit_the_scratch_takes_the_other_kernels()
    {
        // Padded slabs of 64 rows, 64 experts: 512 tiles x 224 column blocks; K = 16384 needs 5 slices to stage within
        // 64 KiB, and 5 x 114688 blocks of sums do not fit the scratch.
        var p = new GroupGemmProblem(TokenLayout.Padded, 64, 7168, 16384, 64, default, default, default);
        var int8 = Weights(ExpertWeightFormat.Int8PerChannel);
        Assert.Null(GroupGemmCuda.Stream(p, int8, LaunchTarget.H200));
        Assert.DoesNotContain("group_gemm_stream", GroupGemmCuda.KernelName("T", p, int8, LaunchTarget.H200));
        // One slice holds K = 2560: no split, no scratch.
        Assert.Equal(1, GroupGemmCuda.Stream(p with { K = 2560 }, int8, LaunchTarget.H200)!.Value.Splits);
    }

    [Fact]
    public void Half_weights_stream_only_while_the_wgmma_grid_leaves_sms_without_a_second_block()
    {
        var half = Weights(ExpertWeightFormat.Half);
        var n1 = new GroupGemmProblem(TokenLayout.PrefixSum, 64, 3072, 2560, 6, default, default, default);   // 6 x 24 = 144 blocks
        Assert.NotNull(GroupGemmCuda.Stream(n1, half, LaunchTarget.H200));
        Assert.NotNull(GroupGemmCuda.Stream(n1 with { RowsBound = 10 }, half, LaunchTarget.H200));             // 240 < 264
        Assert.Null(GroupGemmCuda.Stream(n1 with { RowsBound = 11 }, half, LaunchTarget.H200));                // 264
        Assert.StartsWith("group_gemm_wgmma<", GroupGemmCuda.KernelName("T", n1 with { RowsBound = 96 }, half, LaunchTarget.H200));
        // Integer codes have no wgmma tile at these rows: they stream at n = 16 too.
        Assert.NotNull(GroupGemmCuda.Stream(n1 with { RowsBound = 96 }, Weights(ExpertWeightFormat.Int4PerChannel), LaunchTarget.H200));
        // Without wgmma (sm_80) the rule is the rows per expert alone.
        Assert.NotNull(GroupGemmCuda.Stream(n1 with { RowsBound = 96 }, half, LaunchTarget.H200.WithArchitecture(8, 0)));
    }
}

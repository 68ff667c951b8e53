using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Tests.Kernels.Moe;

/// <summary>
/// The CUDA launcher's variant choice is host arithmetic, so it is checked here without a GPU: every
/// pipelined configuration it picks must satisfy the kernel's static requirements (group_gemm_core.cuh,
/// ge_pipe_tile) and fit the H100/H200 shared-memory limit, over shapes that divide the preferred tiles
/// and shapes that do not.
/// </summary>
public class GroupGemmLauncherTests
{
    // cudaDevAttrMaxSharedMemoryPerBlockOptin on sm_90 (227 KiB).
    private const int SharedLimit = 232448;

    public static IEnumerable<object[]> Shapes()
    {
        var formats = new (ExpertWeightFormat F, GroupSize G)[]
        {
            (ExpertWeightFormat.Half, GroupSize.PerChannel), (ExpertWeightFormat.Int8PerChannel, GroupSize.PerChannel),
            (ExpertWeightFormat.Int4PerChannel, GroupSize.PerChannel), (ExpertWeightFormat.Int4Group, GroupSize.Of(128)),
            (ExpertWeightFormat.Int4Group, GroupSize.Of(64)),
        };
        foreach (var (f, g) in formats)
            foreach (int k in new[] { 2560, 1536, 192, 320, 200 })
                foreach (var layout in new[] { TokenLayout.PrefixSum, TokenLayout.Padded })
                    foreach (int rows in new[] { 1, 16, 96, 768, 3072, 12288 })
                        if (g.Divides(k))
                            yield return new object[] { f, g.ToString(), k, layout, rows };
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Chosen_configuration_meets_the_kernel_requirements(ExpertWeightFormat f, string group, int k, TokenLayout layout, int rows)
    {
        var p = new GroupGemmProblem(layout, 64, 3072, k, rows, default, default, default);
        var w = new ExpertWeights(f, default, default, default, GroupSize.Parse(group));
        if (GroupGemmCuda.Pipe(p, w) is { } cfg) Meets(cfg, f, k, p, w);
    }

    private static void Meets(GroupGemmCuda.PipeConfig cfg, ExpertWeightFormat f, int k, GroupGemmProblem p, ExpertWeights w)
    {
        Assert.True(cfg.Fits(p, w), $"{cfg} does not fit K={k}, group {w.GroupSize}");
        Assert.Equal(0, k % cfg.TileK);
        Assert.Equal(0, cfg.TileK % cfg.SliceK);
        if (w.IsGrouped) Assert.Equal(0, w.GroupSize.Size % cfg.SliceK);
        Assert.Equal(0, cfg.TileM / cfg.WarpsM % 16);
        Assert.Equal(0, cfg.TileN / cfg.WarpsN % 16);   // n8 tiles per warp come in ldmatrix.x4 pairs
        Assert.InRange(cfg.SharedBytes(f), 1, SharedLimit);
        Assert.InRange(cfg.Threads, 64, 1024);
    }

    [Theory]
    [InlineData(ExpertWeightFormat.Half, 12288, 128)]          // ERNIE n = 2048: 192 rows per expert
    [InlineData(ExpertWeightFormat.Half, 3072, 64)]            // n = 512: 48 rows per expert
    [InlineData(ExpertWeightFormat.Int4Group, 96, 16)]         // n = 16
    [InlineData(ExpertWeightFormat.Int8PerChannel, 6, 16)]     // n = 1
    public void Tile_rows_follow_the_rows_per_expert(ExpertWeightFormat f, int rows, int tileM)
    {
        var p = new GroupGemmProblem(TokenLayout.PrefixSum, 64, 3072, 2560, rows, default, default, default);
        var w = new ExpertWeights(f, default, default, default, f == ExpertWeightFormat.Int4Group ? GroupSize.Of(128) : GroupSize.PerChannel);
        Assert.Equal(tileM, GroupGemmCuda.Pipe(p, w)!.Value.TileM);
    }

    // The check cases moe/layer/{wint8,wint4,wint4-g128}/prefix/rows-per-expert=50 and =250 (8 experts, top-2,
    // H = F = 128): each integer format reaches its tens-of-rows and its many-rows tile, both GEMMs.
    [Theory]
    [InlineData(ExpertWeightFormat.Int8PerChannel, 400, 64)]
    [InlineData(ExpertWeightFormat.Int8PerChannel, 2000, 128)]
    [InlineData(ExpertWeightFormat.Int4PerChannel, 400, 64)]
    [InlineData(ExpertWeightFormat.Int4PerChannel, 2000, 128)]
    [InlineData(ExpertWeightFormat.Int4Group, 400, 64)]
    [InlineData(ExpertWeightFormat.Int4Group, 2000, 128)]
    public void The_small_integer_check_cases_reach_the_pipelined_tiles(ExpertWeightFormat f, int rows, int tileM)
    {
        var w = new ExpertWeights(f, default, default, default, f == ExpertWeightFormat.Int4Group ? GroupSize.Of(128) : GroupSize.PerChannel);
        foreach (var (n, k) in new[] { (256, 128), (128, 128) })
        {
            var p = new GroupGemmProblem(TokenLayout.PrefixSum, 8, n, k, rows, default, default, default);
            Assert.Equal(tileM, GroupGemmCuda.Pipe(p, w)!.Value.TileM);
        }
    }

    [Fact]
    public void Half_weights_at_few_rows_use_the_register_staged_tile()
    {
        var p = new GroupGemmProblem(TokenLayout.PrefixSum, 64, 3072, 2560, 96, default, default, default);
        Assert.Null(GroupGemmCuda.Pipe(p, new ExpertWeights(ExpertWeightFormat.Half, default, default, default, GroupSize.PerChannel)));
        var big = p with { RowsBound = 12288 };
        Assert.NotNull(GroupGemmCuda.Pipe(big, new ExpertWeights(ExpertWeightFormat.Half, default, default, default, GroupSize.PerChannel)));
    }

    private static readonly ExpertWeights HalfWeights = new(ExpertWeightFormat.Half, default, default, default, GroupSize.PerChannel);

    [Theory]
    [InlineData(12288, 128)]   // ERNIE n = 2048: 192 rows per expert
    [InlineData(6144, 128)]    // n = 1024 (96 rows per expert: the boundary)
    [InlineData(3072, 64)]     // n = 512: 48 rows per expert
    [InlineData(1536, 64)]     // n = 256: 24 rows per expert
    [InlineData(6, 64)]        // n = 1
    public void Half_weights_take_the_wgmma_kernel_on_sm90(int rows, int tileM)
    {
        var p = new GroupGemmProblem(TokenLayout.PrefixSum, 64, 3072, 2560, rows, default, default, default);
        var c = GroupGemmCuda.Wgmma(p, HalfWeights, 9, 0);
        Assert.Equal(tileM, c!.Value.TileM);
        Assert.Equal(2 * tileM, c.Value.Threads);
        Assert.Equal(tileM == 128 ? 256 : 128, c.Value.TileN);
        Assert.InRange(c.Value.SharedBytes, 1, SharedLimit);
        if (tileM == 64) Assert.True(2 * c.Value.SharedBytes <= SharedLimit, "two 64-row blocks must fit one SM");
    }

    [Fact]
    public void The_wgmma_kernel_is_never_chosen_where_it_cannot_run()
    {
        var p = new GroupGemmProblem(TokenLayout.PrefixSum, 64, 3072, 2560, 12288, default, default, default);
        Assert.Null(GroupGemmCuda.Wgmma(p, HalfWeights, 8, 9));                       // no wgmma before sm_90
        Assert.Null(GroupGemmCuda.Wgmma(p, HalfWeights, 10, 0));                      // sm_90a instructions only
        Assert.Null(GroupGemmCuda.Wgmma(p with { K = 2564 }, HalfWeights, 9, 0));     // rows not 16-byte multiples
    }

    // The check cases moe/layer/{bf16,fp16}/*/rows-per-expert=50 and =250 (8 experts, top-2, H = 136, F = 200: K and
    // N not multiples of the 64 x 128 tile): both wgmma tiles in both GEMMs, in both layouts.
    [Theory]
    [InlineData(TokenLayout.PrefixSum, 400, 64)]
    [InlineData(TokenLayout.PrefixSum, 2000, 128)]
    [InlineData(TokenLayout.Padded, 256, 64)]
    [InlineData(TokenLayout.Padded, 1024, 128)]
    public void The_half_check_cases_reach_both_wgmma_tiles(TokenLayout layout, int rowsBound, int tileM)
    {
        foreach (var (n, k) in new[] { (400, 136), (136, 200) })
        {
            var p = new GroupGemmProblem(layout, 8, n, k, rowsBound, default, default, default);
            Assert.Equal(tileM, GroupGemmCuda.Wgmma(p, HalfWeights, 9, 0)!.Value.TileM);
        }
    }

    // Integer codes never take the cp.async wgmma kernel: its decoding form was removed for the TMA integer kernel,
    // which measured faster on both sides of the rows it covered (GroupGemmTmaLauncherTests has the rule).
    [Theory]
    [InlineData(ExpertWeightFormat.Int8PerChannel, 0)]
    [InlineData(ExpertWeightFormat.Int4PerChannel, 0)]
    [InlineData(ExpertWeightFormat.Int4Group, 128)]
    [InlineData(ExpertWeightFormat.Int4ZeroPointGroup, 128)]
    public void Integer_weights_never_take_the_cp_async_wgmma_kernel(ExpertWeightFormat f, int group)
    {
        var w = new ExpertWeights(f, default, default, default, group == 0 ? GroupSize.PerChannel : GroupSize.Of(group));
        foreach (int rows in new[] { 768, 1536, 3072, 12288 })
            Assert.Null(GroupGemmCuda.Wgmma(new GroupGemmProblem(TokenLayout.PrefixSum, 64, 3072, 2560, rows, default, default, default), w, 9, 0));
    }
}

namespace GraphEngine.Kernels.Moe;

/// <summary>
/// Which fp32 router kernel a forward runs, a pure function of host-side values: the row bound (the padded size),
/// the expert count, whether rows allow 4-wide loads and the GPU's SM count.
/// </summary>
/// <param name="Tiled">The shared-memory tiled GEMM (many rows) rather than the few-token kernel.</param>
/// <param name="BlockExperts">Experts per tiled block (BE: 16 or 64); 0 for the few-token kernel.</param>
/// <param name="FusedTopK">The tiled block holds every expert and runs the top-k softmax itself.</param>
/// <param name="Vectorized">Four K values per load.</param>
internal readonly record struct MoeRoutingPlan(bool Tiled, int BlockExperts, bool FusedTopK, bool Vectorized)
{
    /// <summary>
    /// Rows up to this bound take the few-token kernel (8 tokens x 4 experts per block, K split over warps). The tiled
    /// kernel walks all of K in one block per 16 tokens, so below thousands of rows it has too few blocks to hide its
    /// latency: on the H200 at d781d1b (ERNIE, hidden 2560, 64 experts) it took 62.6 us a layer at 512 rows (16 experts a
    /// block) where the few-token kernel had taken under 23 us at 215f519; at 2048 rows (64 a block, top-k fused) it is
    /// under 63 us against the few-token kernel's 77.
    /// </summary>
    public const int FewTokenRows = 1024;

    /// <summary>Rows up to this bound route (top-k and assignment) in one block, moe_topk_assign: a warp's tokens run one
    /// after another there, so beyond about one token per warp of its 512 threads the two kernels are as fast.</summary>
    public const int OneBlockRoutingRows = 32;

    /// <summary>Tokens per tiled block (RT_TOKENS in moe_routing.cu).</summary>
    public const int TileTokens = 16;

    /// <summary>
    /// The rule. Many rows: 64 experts per block (every weight staged once per 16 tokens, and with E &lt;= 64 the top-k
    /// fused) unless that leaves more than half the SMs without a block; then 16 (four times the blocks, logits only
    /// unless E &lt;= 16).
    /// </summary>
    public static MoeRoutingPlan Choose(int rows, int experts, bool vectorized, int smCount)
    {
        if (rows <= FewTokenRows) return new(false, 0, false, vectorized);
        long tiles = (rows + TileTokens - 1) / TileTokens;
        int be = experts > 16 && 2 * tiles * ((experts + 63) / 64) >= smCount ? 64 : 16;
        return new(true, be, experts <= be, vectorized);
    }

    /// <summary>The kernel instance and its load width, with <paramref name="type"/> as the element type.</summary>
    public string Name(string type) => Tiled
        ? $"moe_router_tiled<{type}, {BlockExperts}>, {(FusedTopK ? "top-k fused" : "logits only")}, {Width}"
        : $"moe_router_fp32<{type}>, {Width}";

    private string Width => Vectorized ? "4-wide loads" : "1-wide loads";

    /// <summary>Every plan <see cref="Choose"/> can return.</summary>
    public static IEnumerable<MoeRoutingPlan> All()
    {
        foreach (bool vec in new[] { true, false })
        {
            yield return new(false, 0, false, vec);
            foreach (int be in new[] { 16, 64 })
                foreach (bool fused in new[] { true, false })
                    yield return new(true, be, fused, vec);
        }
    }
}

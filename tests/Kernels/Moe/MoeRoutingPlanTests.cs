using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;

namespace GraphEngine.Tests.Kernels.Moe;

/// <summary>
/// The fp32 router's rule at its thresholds (H200: 132 SMs): the few-token kernel up to 1024 rows, then 64 experts per
/// tiled block while that gives at least half the SMs a block, else 16; the top-k fused exactly when one block holds
/// every expert; and the routing kernels that follow it.
/// </summary>
public sealed class MoeRoutingPlanTests
{
    private const int Sms = 132;

    [Theory]
    [InlineData(1, 64, false, 0, false)]
    [InlineData(128, 64, false, 0, false)]
    [InlineData(1024, 64, false, 0, false)]
    [InlineData(1025, 64, true, 16, false)]     // 65 token tiles: 2 x 65 < 132, 64 per block would leave SMs idle
    [InlineData(1041, 64, true, 64, true)]      // 66 tiles: 2 x 66 = 132, every expert in one block
    [InlineData(2048, 64, true, 64, true)]      // ERNIE's shape at 2048 tokens
    [InlineData(2048, 100, true, 64, false)]    // two expert blocks: logits only
    [InlineData(512, 100, false, 0, false)]
    [InlineData(1025, 100, true, 64, false)]    // 65 tiles x 2 expert blocks: 2 x 130 >= 132
    [InlineData(4096, 16, true, 16, true)]      // 16 experts never take 64-expert blocks
    [InlineData(1040, 12, true, 16, true)]
    public void Rule_at_its_thresholds(int rows, int experts, bool tiled, int blockExperts, bool fused)
    {
        var p = MoeRoutingPlan.Choose(rows, experts, vectorized: true, Sms);
        Assert.Equal((tiled, blockExperts, fused), (p.Tiled, p.BlockExperts, p.FusedTopK));
        Assert.Contains(p, MoeRoutingPlan.All());
    }

    [Fact]
    public void Every_plan_is_named_once_and_listed_with_the_routing_kernels()
    {
        var names = MoeRoutingPlan.All().Select(p => p.Name("T")).ToArray();
        Assert.Equal(names.Length, names.Distinct().Count());
        Assert.Equal(names.Length + 2 * MoeRouting.LaneExpertCounts.Length + 1, MoeRouting.RouterVariants.Count);
        Assert.Contains("moe_router_fp32<T>, 1-wide loads", names);
        Assert.Contains("moe_router_tiled<T, 16>, top-k fused, 1-wide loads", names);
    }

    [Theory]
    [InlineData(true, 1, new[] { "moe_router_fp32<T>, 4-wide loads", "moe_topk_assign<T, 2>" })]
    [InlineData(true, 32, new[] { "moe_router_fp32<T>, 4-wide loads", "moe_topk_assign<T, 2>" })]
    [InlineData(true, 64, new[] { "moe_router_fp32<T>, 4-wide loads", "moe_topk_softmax<T, 2>", "moe_assign" })]
    [InlineData(true, 512, new[] { "moe_router_fp32<T>, 4-wide loads", "moe_topk_softmax<T, 2>", "moe_assign" })]
    [InlineData(true, 1040, new[] { "moe_router_tiled<T, 16>, logits only, 4-wide loads", "moe_topk_softmax<T, 2>", "moe_assign" })]
    [InlineData(true, 2048, new[] { "moe_router_tiled<T, 64>, top-k fused, 4-wide loads", "moe_assign" })]
    [InlineData(false, 16, new[] { "moe_topk_assign<T, 2>" })]
    [InlineData(false, 2048, new[] { "moe_topk_softmax<T, 2>", "moe_assign" })]
    public void Routing_kernels_in_launch_order(bool fp32Router, int rows, string[] kernels) =>
        Assert.Equal(kernels, MoeRouting.RoutingVariants(fp32Router, DType.BF16, 2560, 64, rows, LaunchTarget.H200));

    [Theory]
    [InlineData(1, 2)]
    [InlineData(64, 2)]
    [InlineData(65, 4)]
    [InlineData(128, 4)]
    [InlineData(129, 8)]
    [InlineData(256, 8)]
    [InlineData(257, 32)]
    [InlineData(1024, 32)]
    public void A_lane_holds_the_fewest_experts_that_cover_the_layer(int experts, int perLane)
    {
        Assert.Equal(perLane, MoeRouting.ExpertsPerLane(experts));
        Assert.Equal(new[] { $"moe_topk_assign<T, {perLane}>" }, MoeRouting.RoutingVariants(false, DType.BF16, 2560, experts, 16, LaunchTarget.H200));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1025)]
    public void An_expert_count_past_the_lanes_is_refused(int experts) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => MoeRouting.ExpertsPerLane(experts));
}

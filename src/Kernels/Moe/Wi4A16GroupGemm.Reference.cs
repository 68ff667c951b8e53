using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels.Moe;

internal sealed class Wi4A16GroupGemmReference : Wi4A16GroupGemm
{
    protected override void QuantizeCore(ComputeStream stream, Tensor source, ExpertWeights destination) =>
        ((ReferenceStream)stream).Enqueue(GroupGemmReferenceMath.QuantizePlan(source, destination, ExpertWeightMath.Wi4A16Zero));

    protected override void RunCore(ComputeStream stream, GroupGemmProblem problem, ExpertWeights weights, Wi4A16TilePlan plan, int tiles, int tileM)
    {
        // The plan was made on the host before this launch, exactly as on the GPU: snapshot it now.
        var list = plan.Tiles(tiles).ToList();
        ((ReferenceStream)stream).Enqueue(GroupGemmReferenceMath.Plan(problem, weights, () => list));
    }
}

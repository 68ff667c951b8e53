namespace GraphEngine.Kernels.Moe;

/// <summary>
/// The tensors one routing pass writes (<see cref="MoeRouting.Route"/>, <see cref="MoeRouting.RouteFp32"/>): what
/// <see cref="MoeRouting.TopKSoftmax(ComputeStream, Tensor, int, DevicePtr, int, in RoutingRule, Tensor, Tensor)"/> and
/// <see cref="MoeRouting.Assign"/> take, with the same shapes.
/// </summary>
/// <param name="Logits">[>= rows, E] gate logits (bf16/fp16/fp32; fp32 from the fp32 router, which writes them).</param>
/// <param name="Ids">[>= rows, topK] int32 chosen experts (-1 for ignored rows).</param>
/// <param name="Weights">[>= rows, topK] fp32 routing weights (0 for ignored rows).</param>
/// <param name="Layout">PrefixSum: experts' rows back to back; Padded: a slab of <paramref name="SlotsPerExpert"/> rows per expert.</param>
/// <param name="SlotsPerExpert">Padded layout only: P, the rows of each expert's slab (>= rows).</param>
/// <param name="Offsets">[E + 1] int32 prefix sums of the counts.</param>
/// <param name="Counts">[E] int32 rows per expert.</param>
/// <param name="Permutation">Permuted row -> assignment: [rows*topK] (PrefixSum) or [E*P] (Padded).</param>
/// <param name="Inverse">[rows*topK] assignment -> permuted row; -1 for ignored tokens.</param>
public readonly record struct MoeRoutingBuffers(Tensor Logits, Tensor Ids, Tensor Weights, TokenLayout Layout, int SlotsPerExpert,
    Tensor Offsets, Tensor Counts, Tensor Permutation, Tensor Inverse);

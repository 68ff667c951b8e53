using GraphEngine.Layers;

namespace GraphEngine.Bench;

/// <summary>Bytes one call moves and flops it does, for a kernel point's floor.</summary>
public readonly record struct Cost(double Bytes, double Flops);

/// <summary>
/// The bytes and flops of one call of each kernel family at n tokens, written once so the suite, its floors
/// and the tests agree. Bytes count what the call must move at least once (bf16 activations read and written,
/// weights read once); flops are 2 per multiply-add.
/// </summary>
public static class KernelCosts
{
    /// <summary>RMSNorm over [n, h] bf16: read x, write y, read the weight once; no matrix flops.</summary>
    public static Cost RmsNorm(int n, int hidden) => new(2.0 * n * hidden * 2 + 2.0 * hidden, 0);

    /// <summary>y[n, nOut] = x[n, k] W^T with <paramref name="weightBytes"/> of stored weights (and scales).</summary>
    public static Cost Linear(int n, int k, int nOut, double weightBytes) =>
        new(weightBytes + 2.0 * n * (k + nOut), 2.0 * n * k * nOut);

    /// <summary>
    /// The whole MoE layer at n tokens: the experts hit (expected, uniform top-k routing), the bf16 router, x read and y
    /// written; flops of the router GEMM and the top-k experts' three matrices.
    /// </summary>
    public static Cost MoeLayer(int n, int hidden, int experts, int topK, int expertFfn, double expertsHit, double bytesPerExpert) =>
        new(expertsHit * bytesPerExpert + 2.0 * experts * hidden + 4.0 * n * hidden,
            2.0 * n * topK * 3.0 * hidden * expertFfn + 2.0 * n * hidden * experts);

    /// <summary>A group GEMM over <paramref name="rows"/> routed rows: the experts hit, A read and C written in bf16.</summary>
    public static Cost GroupGemm(int rows, int nOut, int k, int expertsHit, double bytesPerExpert) =>
        new(expertsHit * bytesPerExpert + rows * (2.0 * k + 2.0 * nOut), 2.0 * rows * nOut * (double)k);

    /// <summary>Bytes of stored weight per bf16 weight in a mode (scales aside): sizes the rotation before anything is built.</summary>
    public static double BytesPerBf16Weight(QuantMode mode) => mode switch
    {
        QuantMode.WInt8 or QuantMode.W8A8 or QuantMode.BlockWiseFp8 => 0.5,
        QuantMode.WInt4 or QuantMode.W4A8 or QuantMode.W4AFp8 or QuantMode.Wi4A16
            or QuantMode.Nvfp4 => 0.25,
        _ => 1.0,
    };
}

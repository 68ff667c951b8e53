using GraphEngine.Kernels;

namespace GraphEngine.Layers.Methods;

/// <summary>Argument checks the quantized-activation Linear methods make the same way before they enqueue anything.</summary>
internal static class LinearMethodChecks
{
    /// <summary>
    /// A forward of <paramref name="paddedRows"/> rows: input [rows, K] and output [rows, N] in the method's activation type,
    /// and 1 to <paramref name="maxRows"/> (the context's max tokens) rows that both tensors hold.
    /// </summary>
    public static void CheckForward(this ILinearMethod method, DType activation, ComputeStream stream, Tensor input, Tensor output,
                                    int paddedRows, int maxRows)
    {
        ArgumentNullException.ThrowIfNull(stream);
        input.RequireRank(nameof(input), 2).Require(nameof(input), activation);
        if (input.Dim(1) != method.InFeatures)
            throw new ArgumentException($"{nameof(input)} must be [rows, {method.InFeatures}], got {input}", nameof(input));
        output.RequireRank(nameof(output), 2).Require(nameof(output), activation);
        if (output.Dim(1) != method.OutFeatures)
            throw new ArgumentException($"{nameof(output)} must be [rows, {method.OutFeatures}], got {output}", nameof(output));
        if (paddedRows < 1 || paddedRows > maxRows || paddedRows > input.Rows || paddedRows > output.Rows)
            throw new ArgumentOutOfRangeException(nameof(paddedRows), paddedRows,
                $"must be in [1, min({maxRows} (max tokens), {input.Rows}, {output.Rows})]");
    }
}

using GraphEngine.Kernels.Numerics;

namespace GraphEngine.Models.Loading;

/// <summary>
/// Compares every engine layer of a <see cref="LoadedModel"/> with the <see cref="Float64Oracle"/> on random
/// hidden states, each layer fed its own bf16 input so errors do not compound between layers.
/// </summary>
public static class ModelCheck
{
    /// <summary>
    /// Relative Frobenius tolerance against float64: the engine's outputs are bf16 (2^-9 relative rounding per
    /// element) and it rounds intermediates to bf16 too (a MoE's gate_up, SwiGLU, routing weights and expert
    /// outputs), so a few roundings compound to about 5e-3; 1e-2 keeps a factor of two while a wrong weight,
    /// transposed matrix or routing rule errs by 1e-1 or more.
    /// </summary>
    public const double Float64Tolerance = 1e-2;

    /// <summary>For each count in <paramref name="tokenCounts"/> and each layer of <paramref name="model"/>: random bf16 input rows (from <paramref name="seed"/>), the layer run eagerly, and its output compared with <paramref name="oracle"/> by relative Frobenius error against <see cref="Float64Tolerance"/>; one row per layer and count.</summary>
    public static IReadOnlyList<CheckRow> AgainstFloat64(LoadedModel model, Float64Oracle oracle, IReadOnlyList<int> tokenCounts,
        int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(oracle);
        ArgumentNullException.ThrowIfNull(tokenCounts);
        var rows = new List<CheckRow>();
        var rng = new Random(seed);
        var m = model.Description;
        foreach (int n in tokenCounts)
            foreach (var l in model.Layers)
            {
                int i = l.DecoderLayer;
                var layer = l.Layer;
                int width = checked((int)layer.Input.Dim(1));
                float[] x = Random(rng, n * width, l.Role is LayerRole.InputNorm or LayerRole.PostAttentionNorm ? 2f : 1f);
                float[]? residual = layer is GraphEngine.Layers.RmsNorm { FusedResidual: true } ? Random(rng, n * width, 2f) : null;
                var got = LayerProbe.Run(model, l, x, n, residual);
                double[] input = Sum(x, residual);
                string name = layer.Name[(layer.Name.IndexOf('.', "layers.".Length) + 1)..];
                switch (l.Role)
                {
                    case LayerRole.InputNorm:
                    case LayerRole.PostAttentionNorm:
                        rows.Add(Row(i, name, n, oracle.Norm(i, l.Role == LayerRole.PostAttentionNorm, input, n), got));
                        break;
                    case LayerRole.QkvProj:
                        rows.Add(Row(i, name, n, oracle.Qkv(i, input, n), got));
                        break;
                    case LayerRole.OProj:
                        rows.Add(Row(i, name, n, oracle.OProj(i, input, n), got));
                        break;
                    case LayerRole.DenseGateUp:
                        rows.Add(Row(i, name, n, oracle.DenseGateUp(i, input, n), got));
                        break;
                    case LayerRole.DenseAct:
                        rows.Add(Row(i, name, n, Float64Oracle.SwiGlu(input, n, m.DecoderLayers[i].DenseFfn), got));
                        break;
                    case LayerRole.DenseDown:
                        rows.Add(Row(i, name, n, oracle.DenseDown(i, input, n), got));
                        break;
                    case LayerRole.Moe:
                        var ids = LayerProbe.ChosenExperts(l, n);
                        var r = oracle.Moe(i, input, n, ids);
                        rows.Add(Row(i, name, n, r.Output, got) with { Mismatches = r.Mismatches, Ties = r.Ties });
                        break;
                }
            }
        return rows;
    }

    internal static CheckRow Row(int layer, string sublayer, int n, double[] expected, float[] actual, double tolerance = Float64Tolerance)
    {
        if (actual.Any(v => !float.IsFinite(v)))
            return new CheckRow(layer, sublayer, n, double.NaN, tolerance, Problem: "non-finite output (an element left unwritten?)");
        return new CheckRow(layer, sublayer, n, RelativeFrobenius(expected, actual), tolerance);
    }

    /// <summary>‖expected − actual‖ / ‖expected‖ (Frobenius); both spans the same length.</summary>
    public static double RelativeFrobenius(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual)
    {
        if (expected.Length != actual.Length)
            throw new ArgumentException($"{actual.Length} values against {expected.Length} expected", nameof(actual));
        double num = 0, den = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = actual[i] - expected[i];
            num += d * d;
            den += expected[i] * expected[i];
        }
        return den == 0 ? Math.Sqrt(num) : Math.Sqrt(num / den);
    }

    /// <summary>Uniform in [-scale, scale), rounded to bf16 so the oracle sees the values the engine does.</summary>
    public static float[] Random(Random rng, int count, float scale)
    {
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = Bf16.Round((rng.NextSingle() * 2 - 1) * scale);
        return v;
    }

    private static double[] Sum(float[] x, float[]? residual)
    {
        var d = new double[x.Length];
        for (int i = 0; i < d.Length; i++) d[i] = x[i] + (double)(residual?[i] ?? 0);
        return d;
    }
}

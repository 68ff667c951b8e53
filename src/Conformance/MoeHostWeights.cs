using GraphEngine.Kernels;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Random;
using GraphEngine.Layers;

namespace GraphEngine.Conformance;

/// <summary>
/// A MoE case's weights defined on the host (seeded uniform values, rounded to the tensor's type) and
/// uploaded into the layer through <see cref="IMoeWeightSource"/>: the oracle multiplies these arrays and
/// quantizes them with the host definitions, so nothing it uses was read back from the layer under test.
/// Arrays are shared by every case of the same shape and types (callers only read them).
/// </summary>
internal sealed class MoeHostWeights : IMoeWeightSource
{
    private static readonly Dictionary<(int E, int H, int F, int Fs, DType Act, bool Fp32Router, bool Bias, bool ZeroGate), MoeHostWeights> Cache = new();
    private static readonly object Gate = new();

    private MoeHostWeights(MoeCases.Spec spec)
    {
        var (e, h, f, fs) = (spec.Shape.Experts, spec.Shape.Hidden, spec.Shape.Ffn, spec.SharedFfn);
        var act = spec.Activation;
        bool fp32Router = spec.Fp32Router;
        // Scales as the layer's own random weights: logits of order 1, and unit-scale outputs per projection.
        Router = spec.ZeroGate ? new float[(long)e * h] : Values((long)e * h, 101, 3f / MathF.Sqrt(h), fp32Router ? DType.F32 : act);
        SelectionBias = spec.Biased ? Values(e, 102, 1f / e, DType.F32) : Array.Empty<float>();
        GateUp = Values((long)e * 2 * f * h, 103, 2f / MathF.Sqrt(h), act);
        Down = Values((long)e * h * f, 104, 2f / MathF.Sqrt(f), act);
        SharedGateUp = fs > 0 ? Values(2L * fs * h, 105, 2f / MathF.Sqrt(h), act) : Array.Empty<float>();
        SharedDown = fs > 0 ? Values((long)h * fs, 106, 2f / MathF.Sqrt(fs), act) : Array.Empty<float>();
    }

    /// <summary>The weights of <paramref name="spec"/>'s shape, made once per shape and types.</summary>
    public static MoeHostWeights For(MoeCases.Spec spec)
    {
        var key = (spec.Shape.Experts, spec.Shape.Hidden, spec.Shape.Ffn, spec.SharedFfn, spec.Activation, spec.Fp32Router,
                   spec.Biased, spec.ZeroGate);
        lock (Gate)
        {
            if (!Cache.TryGetValue(key, out var w))
            {
                // Keep at most one large set: the biggest shapes hold gigabytes.
                if (Cache.Count > 0 && (long)spec.Shape.Experts * spec.Shape.Hidden * spec.Shape.Ffn > 1 << 24) Cache.Clear();
                Cache[key] = w = new MoeHostWeights(spec);
            }
            return w;
        }
    }

    /// <summary>Router [E, H] (fp32 for the ERNIE router, else the activation type's values).</summary>
    public float[] Router { get; }
    /// <summary>Selection bias [E] (ERNIE only; empty otherwise).</summary>
    public float[] SelectionBias { get; }
    /// <summary>Experts' fused gate/up [E, 2F, H].</summary>
    public float[] GateUp { get; }
    /// <summary>Experts' down [E, H, F].</summary>
    public float[] Down { get; }
    /// <summary>Shared experts' gate/up [2Fs, H].</summary>
    public float[] SharedGateUp { get; }
    /// <summary>Shared experts' down [H, Fs].</summary>
    public float[] SharedDown { get; }

    /// <inheritdoc/>
    public void Fill(MoeWeight weight, Tensor destination)
    {
        var values = weight switch
        {
            MoeWeight.Router => Router,
            MoeWeight.SelectionBias => SelectionBias,
            MoeWeight.GateUp => GateUp,
            MoeWeight.Down => Down,
            MoeWeight.SharedGateUp => SharedGateUp,
            MoeWeight.SharedDown => SharedDown,
            _ => throw new ArgumentOutOfRangeException(nameof(weight), weight, "no host values for this weight"),
        };
        destination.UploadFloats(values);
    }

    /// <summary>Seeded uniform values in [-scale, scale), rounded to <paramref name="type"/>, in parallel.</summary>
    private static float[] Values(long count, uint seed, float scale, DType type)
    {
        var v = new float[count];
        Float64.ForChunks(count, 1 << 16, (s, e) =>
        {
            for (long i = s; i < e; i++)
            {
                float x = RandomFill.UniformValue(i, seed, scale, 0f);
                v[i] = type == DType.F32 ? x : HalfBits.ToFloat(HalfBits.FromFloat(x, type), type);
            }
        });
        return v;
    }
}

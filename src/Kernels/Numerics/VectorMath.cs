using System.Numerics;
using System.Runtime.InteropServices;

namespace GraphEngine.Kernels.Numerics;

/// <summary>SIMD helpers for the reference backend's inner loops.</summary>
public static class VectorMath
{
    /// <summary>Dot product in float32 (vectorized; summation order differs from a plain loop).</summary>
    public static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        if (x.Length != y.Length) throw new ArgumentException($"lengths {x.Length} and {y.Length} differ");
        int i = 0;
        var acc = Vector<float>.Zero;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<float>.Count)
        {
            var vx = MemoryMarshal.Cast<float, Vector<float>>(x);
            var vy = MemoryMarshal.Cast<float, Vector<float>>(y);
            for (int v = 0; v < vx.Length; v++) acc += vx[v] * vy[v];
            i = vx.Length * Vector<float>.Count;
        }
        float s = Vector.Sum(acc);
        for (; i < x.Length; i++) s += x[i] * y[i];
        return s;
    }

    /// <summary>Dot product accumulated in float64, for oracles.</summary>
    public static double DotDouble(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        if (x.Length != y.Length) throw new ArgumentException($"lengths {x.Length} and {y.Length} differ");
        double s = 0;
        for (int i = 0; i < x.Length; i++) s += x[i] * y[i];
        return s;
    }

    /// <summary>
    /// max |v| over <paramref name="v"/>, 0 when empty: exactly what a running MathF.Max(m, MathF.Abs(x)) from 0 gives,
    /// down to which NaN it returns when there is one (quantizers store scales derived from it, NaN payload and all).
    /// </summary>
    public static float MaxAbs(ReadOnlySpan<float> v)
    {
        float max = 0;
        int i = 0;
        if (Vector.IsHardwareAccelerated && v.Length >= Vector<float>.Count)
        {
            var vmax = Vector<float>.Zero;
            var nan = Vector<int>.Zero;
            for (; i <= v.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var x = new Vector<float>(v.Slice(i));
                nan |= ~Vector.Equals(x, x);
                vmax = Vector.Max(vmax, Vector.Abs(x));
            }
            // Which NaN a chain of MathF.Max keeps is the runtime's business; with one present, run that chain.
            if (nan != Vector<int>.Zero)
            {
                foreach (float x in v) max = MathF.Max(max, MathF.Abs(x));
                return max;
            }
            for (int l = 0; l < Vector<float>.Count; l++) max = MathF.Max(max, vmax[l]);
        }
        for (; i < v.Length; i++) max = MathF.Max(max, MathF.Abs(v[i]));
        return max;
    }
}

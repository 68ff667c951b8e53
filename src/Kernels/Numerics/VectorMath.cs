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
}

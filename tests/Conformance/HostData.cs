namespace GraphEngine.Tests.Conformance;

/// <summary>Seeded host data for the oracle helpers' tests: the same seed gives the same values on every run.</summary>
internal static class HostData
{
    public static byte[] Bytes(int count, int seed)
    {
        var b = new byte[count];
        new System.Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>Uniform floats in [lo, hi).</summary>
    public static float[] Floats(int count, int seed, float lo, float hi)
    {
        var r = new System.Random(seed);
        var v = new float[count];
        for (int i = 0; i < v.Length; i++) v[i] = lo + (float)r.NextDouble() * (hi - lo);
        return v;
    }
}

using System.Numerics;
using System.Runtime.InteropServices;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Kernels.Moe;

/// <summary>
/// The quantization and decoding rules of every expert weight format, as host functions: the reference
/// backend runs them, the CUDA kernels implement the same arithmetic (so quantized bytes agree bit for
/// bit), and checks use them to dequantize what a kernel reads.
/// </summary>
public static class ExpertWeightMath
{
    /// <summary>Largest quantized magnitude: symmetric int8 uses ±127, int4 ±7 (scale = max |w| / 7).</summary>
    public static int QMax(ExpertWeightFormat f) => f == ExpertWeightFormat.Int8PerChannel ? 127 : 7;

    /// <summary>The zero point wi4a16's symmetric quantizer stores: q = round(w / s) + 8 lies in 1..15.</summary>
    public const float Wi4A16Zero = 8f;

    /// <summary>
    /// Quantizes one row segment (a whole row for per-channel formats, one group otherwise):
    /// scale = max |w| / qmax; q = round-half-even(w / scale) clamped to ±qmax (0 when the segment is all zero).
    /// Returns the scale; writes q (before any zero-point offset) to <paramref name="q"/>.
    /// </summary>
    public static float QuantizeSegment(ReadOnlySpan<float> w, int qmax, Span<int> q)
    {
        if (q.Length < w.Length) throw new ArgumentException($"q holds {q.Length} codes, the segment {w.Length}", nameof(q));
        // Vector lanes do the same IEEE division and round-half-even as the scalar tail, so every code is the same
        // bits either way; the checks quantize hundreds of millions of weights a run with this.
        var wv = MemoryMarshal.Cast<float, Vector<float>>(w);
        var maxv = Vector<float>.Zero;
        foreach (var v in wv) maxv = Vector.Max(maxv, Vector.Abs(v));
        float maxAbs = 0f;
        for (int i = 0; i < Vector<float>.Count; i++) maxAbs = MathF.Max(maxAbs, maxv[i]);
        for (int i = wv.Length * Vector<float>.Count; i < w.Length; i++) maxAbs = MathF.Max(maxAbs, MathF.Abs(w[i]));
        float scale = maxAbs / qmax;
        if (!(scale > 0f))
        {
            q[..w.Length].Clear();
            return scale;
        }
        var qv = MemoryMarshal.Cast<int, Vector<int>>(q[..(wv.Length * Vector<float>.Count)]);
        Vector<float> vs = new(scale), hi = new(qmax), lo = new(-qmax);
        for (int v = 0; v < wv.Length; v++)
            qv[v] = Vector.ConvertToInt32(Vector.Min(Vector.Max(Vector.Round(wv[v] / vs), lo), hi));
        for (int i = wv.Length * Vector<float>.Count; i < w.Length; i++)
            q[i] = (int)Math.Clamp(MathF.Round(w[i] / scale, MidpointRounding.ToEven), -qmax, qmax);
        return scale;
    }

    /// <summary>Nibble <paramref name="k"/> of a packed int4 row (low nibble = even k).</summary>
    public static int Nibble(ReadOnlySpan<byte> packed, long k) => (k & 1) == 0 ? packed[(int)(k >> 1)] & 15 : packed[(int)(k >> 1)] >> 4;

    /// <summary>
    /// The values one expert's kernel multiplies before scaling ([N, K], exact in bf16/fp16 for the integer
    /// formats; wi4a16's q - zero rounded to the activation type), and the scale of every (n, group).
    /// </summary>
    public static void Decode(ExpertWeightFormat format, DType activation, int n, int k, GroupSize group,
                              ReadOnlySpan<byte> weights, ReadOnlySpan<float> scales, ReadOnlySpan<float> zeros,
                              Span<float> values)
    {
        bool grouped = format is ExpertWeightFormat.Int4Group or ExpertWeightFormat.Int4ZeroPointGroup;
        int groupSize = grouped ? group.Size : k, groups = grouped ? k / groupSize : 1;
        for (int r = 0; r < n; r++)
        {
            var row = values.Slice(r * k, k);
            switch (format)
            {
                case ExpertWeightFormat.Half:
                    var bits = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(weights).Slice(r * k, k);
                    for (int i = 0; i < k; i++) row[i] = HalfBits.ToFloat(bits[i], activation);
                    break;
                case ExpertWeightFormat.Int8PerChannel:
                    for (int i = 0; i < k; i++) row[i] = (sbyte)weights[r * k + i];
                    break;
                case ExpertWeightFormat.Int4PerChannel:
                case ExpertWeightFormat.Int4Group:
                    var packed = weights.Slice(r * k / 2, k / 2);
                    for (int i = 0; i < k; i++) { int q = Nibble(packed, i); row[i] = q >= 8 ? q - 16 : q; }
                    break;
                case ExpertWeightFormat.Int4ZeroPointGroup:
                    var p = weights.Slice(r * k / 2, k / 2);
                    for (int i = 0; i < k; i++)
                        row[i] = HalfBits.ToFloat(HalfBits.FromFloat(Nibble(p, i) - zeros[r * groups + i / groupSize], activation), activation);
                    break;
            }
        }
    }

    /// <summary>Decoded values times their scales: the weights [N, K] as the kernel effectively uses them.</summary>
    /// <remarks>
    /// The same arithmetic as <see cref="Decode"/> followed by one fp32 multiply by the (n, group) scale,
    /// fused into one pass over each scale group (bit-identical to decoding first and scaling after).
    /// </remarks>
    public static float[] Dequantize(ExpertWeightFormat format, DType activation, int n, int k, GroupSize group,
                                     ReadOnlySpan<byte> weights, ReadOnlySpan<float> scales, ReadOnlySpan<float> zeros)
    {
        var v = new float[(long)n * k];
        Dequantize(format, activation, n, k, group, weights, scales, zeros, v);
        return v;
    }

    /// <summary><see cref="Dequantize(ExpertWeightFormat, DType, int, int, GroupSize, ReadOnlySpan{byte}, ReadOnlySpan{float}, ReadOnlySpan{float})"/> into <paramref name="v"/> [N, K].</summary>
    public static void Dequantize(ExpertWeightFormat format, DType activation, int n, int k, GroupSize group,
                                  ReadOnlySpan<byte> weights, ReadOnlySpan<float> scales, ReadOnlySpan<float> zeros, Span<float> v)
    {
        if (v.Length != (long)n * k) throw new ArgumentException($"destination holds {v.Length} values, expected {n}x{k}", nameof(v));
        if (format == ExpertWeightFormat.Half)
        {
            // Whole rows are contiguous: one span conversion (SIMD for bf16) instead of a value at a time.
            var bits = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(weights).Slice(0, n * k);
            HalfConvert.ToFloats(bits, v, activation);
            return;
        }
        bool grouped = format is ExpertWeightFormat.Int4Group or ExpertWeightFormat.Int4ZeroPointGroup;
        int groupSize = grouped ? group.Size : k, groups = grouped ? k / groupSize : 1;
        for (int r = 0; r < n; r++)
            for (int g = 0; g < groups; g++)
            {
                float scale = scales[r * groups + g];
                int start = g * groupSize;
                var dst = v.Slice(r * k + start, groupSize);
                switch (format)
                {
                    case ExpertWeightFormat.Int8PerChannel:
                        var q8 = weights.Slice(r * k + start, groupSize);
                        for (int i = 0; i < dst.Length; i++) dst[i] = (float)(sbyte)q8[i] * scale;
                        break;
                    case ExpertWeightFormat.Int4PerChannel:
                    case ExpertWeightFormat.Int4Group:
                        var packed = weights.Slice(r * k / 2, k / 2);
                        if ((start & 1) == 0 && (groupSize & 1) == 0)
                        {
                            var bytes = packed.Slice(start / 2, groupSize / 2);
                            for (int i = 0; i < bytes.Length; i++)
                            {
                                // Low nibble = even k; two's complement: 8..15 are -8..-1.
                                dst[2 * i] = (float)((sbyte)(bytes[i] << 4) >> 4) * scale;
                                dst[2 * i + 1] = (float)((sbyte)bytes[i] >> 4) * scale;
                            }
                        }
                        else
                        {
                            for (int i = 0; i < dst.Length; i++) { int q = Nibble(packed, start + i); dst[i] = (float)(q >= 8 ? q - 16 : q) * scale; }
                        }
                        break;
                    case ExpertWeightFormat.Int4ZeroPointGroup:
                        var p = weights.Slice(r * k / 2, k / 2);
                        float zero = zeros[r * groups + g];
                        for (int i = 0; i < dst.Length; i++)
                            dst[i] = HalfBits.ToFloat(HalfBits.FromFloat(Nibble(p, start + i) - zero, activation), activation) * scale;
                        break;
                }
            }
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Random;

namespace GraphEngine.Conformance;

/// <summary>
/// Conformance cases of the Format area: the host conversions of src/Kernels/Numerics against the
/// device's own intrinsics (through <see cref="FormatConvert"/>), bit for bit, over every pattern of the
/// narrow types and over sweeps of float inputs that hit every rounding boundary. On the reference
/// method FormatConvert IS the host code, so the sweeps are trivially equal there; what checks the
/// host code in CI is the known-answer case, whose expected bits are written out by hand.
/// Every device run is done twice, over outputs pre-filled with 0x00 and with 0xFF bytes: an element
/// the kernel never wrote cannot match the expected value under both.
/// </summary>
public static class FormatCases
{
    private const string Area = "format";

    // One launcher per device, so its compiled kernels are fetched once for the whole area.
    private static readonly ConditionalWeakTable<Device, FormatConvert> Converters = new();
    private static FormatConvert ConverterFor(Device device) => Converters.GetValue(device, FormatConvert.Create);

    public static IEnumerable<ConformanceCase> Cases()
    {
        yield return new("format/known-answers", Area, KnownAnswers);
        foreach (var dtype in new[] { DType.Fp8E4M3, DType.Fp8E5M2, DType.Fp4E2M1 })
            yield return new($"format/decode/{Short(dtype)}/all-patterns", Area, d => DecodeAllPatterns(d, dtype));
        foreach (var dtype in new[] { DType.Fp8E4M3, DType.Fp8E5M2 })
            foreach (var sat in new[] { Fp8Saturation.SatFinite, Fp8Saturation.NoSat })
                yield return new($"format/encode/{Short(dtype)}/{sat.ToString().ToLowerInvariant()}", Area, d => EncodeFp8Sweeps(d, dtype, sat));
        yield return new("format/encode/e2m1", Area, EncodeFp4Sweeps);
        foreach (var dtype in new[] { DType.BF16, DType.F16 })
            yield return new($"format/encode/{Short(dtype)}", Area, d => EncodeHalfSweeps(d, dtype));
    }

    private static string Short(DType t) => t switch
    {
        DType.Fp8E4M3 => "e4m3",
        DType.Fp8E5M2 => "e5m2",
        DType.Fp4E2M1 => "e2m1",
        DType.BF16 => "bf16",
        DType.F16 => "f16",
        _ => t.ToString(),
    };

    // ----- cases -----

    private static CaseResult DecodeAllPatterns(Device device, DType dtype)
    {
        int patterns = dtype == DType.Fp4E2M1 ? 16 : 256;
        // fp4: 16 nibbles in 8 bytes, element 2i in the low nibble.
        byte[] input = dtype == DType.Fp4E2M1
            ? Enumerable.Range(0, 8).Select(i => (byte)(2 * i | (2 * i + 1) << 4)).ToArray()
            : Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        var expected = new float[patterns];
        for (int i = 0; i < patterns; i++) expected[i] = HostDecode(dtype, (byte)i);
        var actual = DeviceDecode(device, dtype, input, patterns);
        // Decoded NaN bits are not fixed (the fp16 -> f32 widening on the device may keep or drop sign
        // and payload), so NaN matches NaN; every number must match bit for bit.
        return CompareAll($"decode {Short(dtype)}", patterns, actual, expected, FloatsMatch, i => $"pattern 0x{i:X2}");
    }

    private static CaseResult EncodeFp8Sweeps(Device device, DType dtype, Fp8Saturation sat)
    {
        Func<float, byte> host = dtype == DType.Fp8E4M3 ? x => Fp8E4M3.FromFloat(x, sat) : x => Fp8E5M2.FromFloat(x, sat);
        var parts = new List<CaseResult>();
        foreach (var (name, inputs) in Fp8Sweeps(dtype))
        {
            var expected = inputs.Select(host).ToArray();
            var actual = RunTwice(device, DType.F32, dtype, inputs, (conv, s, x, y) => conv.EncodeFp8(s, x, y, sat), inputs.Length);
            // A float NaN always encodes to the fixed pattern 0x7F, so bytes compare exactly.
            parts.Add(CompareAll($"{Short(dtype)} {sat} from {name}", inputs.Length, actual, expected, (a, b) => a == b, i => FloatText(inputs[i])));
        }
        return CaseResult.All(parts.ToArray());
    }

    private static CaseResult EncodeFp4Sweeps(Device device)
    {
        var parts = new List<CaseResult>();
        foreach (var (name, raw) in new[]
                 {
                     ("bf16 patterns", Bf16Patterns()),
                     ("fp16 patterns", F16Patterns()),
                     ("e2m1 midpoints", Midpoints(CodeValues(DType.Fp4E2M1), 8.0)),
                 })
        {
            var inputs = raw.Length % 2 == 0 ? raw : raw.Append(0f).ToArray();
            var expectedBytes = new byte[inputs.Length / 2];
            Fp4E2M1.Pack(inputs, expectedBytes);
            var actualBytes = RunTwice(device, DType.F32, DType.Fp4E2M1, inputs, (conv, s, x, y) => conv.EncodeFp4(s, x, y), inputs.Length);
            // Compare per element (nibble), so a mismatch names its input; NaN encodes to the fixed +6.
            var expected = Nibbles(expectedBytes);
            var actual = actualBytes.Select(Nibbles).ToArray();
            parts.Add(CompareAll($"e2m1 from {name}", inputs.Length, actual, expected, (a, b) => a == b, i => FloatText(inputs[i])));
        }
        return CaseResult.All(parts.ToArray());
    }

    private static CaseResult EncodeHalfSweeps(Device device, DType dtype)
    {
        var parts = new List<CaseResult>();
        var sweeps = new List<(string, float[])>
        {
            ("1M hashed float bit patterns", Hashed(1 << 20, dtype == DType.BF16 ? 0xB16u : 0xF16u)),
            ($"{Short(dtype)} midpoints", dtype == DType.BF16 ? Bf16Midpoints() : Midpoints(CodeValues(DType.F16), 65536.0)),
        };
        foreach (var (name, inputs) in sweeps)
        {
            var expected = inputs.Select(x => HalfBits.FromFloat(x, dtype)).ToArray();
            var actual = RunTwice(device, DType.F32, dtype, inputs, (conv, s, x, y) => conv.EncodeHalf(s, x, y), inputs.Length)
                .Select(b => MemoryMarshal.Cast<byte, ushort>(b.AsSpan()).ToArray()).ToArray();
            // CUDA returns the canonical 0x7FFF for every NaN input, so NaN compares bitwise too.
            parts.Add(CompareAll($"{Short(dtype)} from {name}", inputs.Length, actual, expected, (a, b) => a == b, i => FloatText(inputs[i])));
        }
        return CaseResult.All(parts.ToArray());
    }

    // ----- known answers, written by hand from the format definitions (not from the host code) -----

    private static readonly float NegNaN = BitConverter.UInt32BitsToSingle(0xFFC0_0000);
    private static float Bits(uint u) => BitConverter.UInt32BitsToSingle(u);

    /// <summary>(input, expected satfinite, expected nosat). Ties go to the even mantissa.</summary>
    private static readonly (float X, byte Sat, byte NoSat)[] E4M3Answers =
    {
        (0f, 0x00, 0x00), (-0f, 0x80, 0x80), (1f, 0x38, 0x38), (-2f, 0xC0, 0xC0),
        (1.0625f, 0x38, 0x38),            // tie between 1 and 1.125 -> even 1
        (1.1875f, 0x3A, 0x3A),            // tie between 1.125 and 1.25 -> even 1.25
        (0.015625f, 0x08, 0x08),          // 2^-6, smallest normal
        (0.001953125f, 0x01, 0x01),       // 2^-9, smallest subnormal
        (0.0009765625f, 0x00, 0x00),      // 2^-10, half the smallest subnormal: tie -> 0
        (Bits(0x3A80_0001), 0x01, 0x01),  // just above 2^-10
        (0.0029296875f, 0x02, 0x02),      // 1.5 * 2^-9: tie -> even 2 * 2^-9
        (448f, 0x7E, 0x7E), (-448f, 0xFE, 0xFE),
        (464f, 0x7E, 0x7E),               // midpoint to the would-be 480: tie -> 448
        (Bits(0x43E8_0001), 0x7E, 0x7F),  // just above 464: overflow, NaN without saturation
        (1000f, 0x7E, 0x7F), (-1000f, 0xFE, 0xFF),
        (float.PositiveInfinity, 0x7E, 0x7F), (float.NegativeInfinity, 0xFE, 0xFF),
        (float.NaN, 0x7F, 0x7F), (NegNaN, 0x7F, 0x7F),
    };

    private static readonly (float X, byte Sat, byte NoSat)[] E5M2Answers =
    {
        (0f, 0x00, 0x00), (-0f, 0x80, 0x80), (1f, 0x3C, 0x3C), (-1.5f, 0xBE, 0xBE),
        (1.125f, 0x3C, 0x3C),             // tie between 1 and 1.25 -> even 1
        (1.375f, 0x3E, 0x3E),             // tie between 1.25 and 1.5 -> even 1.5
        (6.103515625e-05f, 0x04, 0x04),   // 2^-14, smallest normal
        (1.52587890625e-05f, 0x01, 0x01), // 2^-16, smallest subnormal
        (7.62939453125e-06f, 0x00, 0x00), // 2^-17: tie -> 0
        (57344f, 0x7B, 0x7B),
        (Bits(0x476F_FFFF), 0x7B, 0x7B),  // just below 61440
        (61440f, 0x7B, 0x7C),             // midpoint to 65536: tie goes to the even side, infinity
        (float.PositiveInfinity, 0x7B, 0x7C), (float.NegativeInfinity, 0xFB, 0xFC),
        (float.NaN, 0x7F, 0x7F), (NegNaN, 0x7F, 0x7F),
    };

    private static readonly (float X, byte Nibble)[] E2M1Answers =
    {
        (0f, 0x0), (-0f, 0x8), (0.5f, 0x1), (-0.5f, 0x9), (6f, 0x7), (-6f, 0xF),
        (0.25f, 0x0),                     // half the smallest subnormal: tie -> 0
        (Bits(0x3E80_0001), 0x1),         // just above 0.25
        (-0.1f, 0x8),                     // underflow keeps the sign
        (0.75f, 0x2), (1.25f, 0x2), (1.75f, 0x4), (2.5f, 0x4), (3.5f, 0x6), (5f, 0x6), // ties -> even
        (6.5f, 0x7), (100f, 0x7), (-100f, 0xF),
        (float.PositiveInfinity, 0x7), (float.NegativeInfinity, 0xF),
        (float.NaN, 0x7), (NegNaN, 0x7),  // NaN -> +6, sign dropped
    };

    private static readonly (float X, ushort Bf16, ushort F16)[] HalfAnswers =
    {
        (1f, 0x3F80, 0x3C00), (-2f, 0xC000, 0xC000),
        (Bits(0x3F80_8000), 0x3F80, 0x3C04),   // bf16 tie -> even; fp16: 1 + 2^-8 exactly
        (Bits(0x3F81_8000), 0x3F82, 0x3C0C),   // bf16 tie -> even (up); fp16: 1.01171875 -> 0x3C0C exactly
        (Bits(0x3F80_1000), 0x3F80, 0x3C00),   // 1 + 2^-11: fp16 tie -> even 1
        (Bits(0x3F80_3000), 0x3F80, 0x3C02),   // 1 + 3 * 2^-11: fp16 tie -> even 1 + 2^-9
        (65504f, 0x4780, 0x7BFF), (65520f, 0x4780, 0x7C00), (Bits(0x477F_EFFF), 0x4780, 0x7BFF),
        (5.9604644775390625e-08f, 0x3380, 0x0001),   // 2^-24, fp16's smallest subnormal
        (2.98023223876953125e-08f, 0x3300, 0x0000),  // 2^-25: fp16 tie -> 0
        (Bits(0x7F7F_8000), 0x7F80, 0x7C00),   // bf16 overflow by rounding -> inf
        (float.PositiveInfinity, 0x7F80, 0x7C00), (float.NegativeInfinity, 0xFF80, 0xFC00),
        (float.NaN, 0x7FFF, 0x7FFF), (NegNaN, 0x7FFF, 0x7FFF),
    };

    /// <summary>(pattern, value) for decoding; NaN where the pattern is NaN.</summary>
    private static readonly (byte Bits, float Value)[] E4M3Values =
    {
        (0x00, 0f), (0x80, -0f), (0x01, 0.001953125f), (0x07, 0.013671875f), (0x08, 0.015625f), (0x38, 1f),
        (0x3F, 1.875f), (0x7E, 448f), (0xFE, -448f), (0x77, 240f), (0x7F, float.NaN), (0xFF, float.NaN),
    };

    private static readonly (byte Bits, float Value)[] E5M2Values =
    {
        (0x00, 0f), (0x80, -0f), (0x01, 1.52587890625e-05f), (0x04, 6.103515625e-05f), (0x3C, 1f), (0x3F, 1.75f),
        (0x7B, 57344f), (0xFB, -57344f), (0x7C, float.PositiveInfinity), (0xFC, float.NegativeInfinity),
        (0x7D, float.NaN), (0x7E, float.NaN), (0x7F, float.NaN), (0xFF, float.NaN),
    };

    private static readonly float[] E2M1Values = { 0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f, -0f, -0.5f, -1f, -1.5f, -2f, -3f, -4f, -6f };

    private static CaseResult KnownAnswers(Device device)
    {
        var parts = new List<CaseResult>();
        foreach (var sat in new[] { Fp8Saturation.SatFinite, Fp8Saturation.NoSat })
        {
            var xs = E4M3Answers.Select(a => a.X).ToArray();
            var got = RunTwice(device, DType.F32, DType.Fp8E4M3, xs, (c, s, x, y) => c.EncodeFp8(s, x, y, sat), xs.Length);
            var want = E4M3Answers.Select(a => sat == Fp8Saturation.SatFinite ? a.Sat : a.NoSat).ToArray();
            parts.Add(CompareAll($"e4m3 {sat} answers", xs.Length, got, want, (a, b) => a == b, i => FloatText(xs[i])));

            xs = E5M2Answers.Select(a => a.X).ToArray();
            got = RunTwice(device, DType.F32, DType.Fp8E5M2, xs, (c, s, x, y) => c.EncodeFp8(s, x, y, sat), xs.Length);
            want = E5M2Answers.Select(a => sat == Fp8Saturation.SatFinite ? a.Sat : a.NoSat).ToArray();
            parts.Add(CompareAll($"e5m2 {sat} answers", xs.Length, got, want, (a, b) => a == b, i => FloatText(xs[i])));
        }

        // fp4 packs pairs: an odd table gets a trailing zero (which encodes to 0x0).
        var e2m1 = E2M1Answers.Length % 2 == 0 ? E2M1Answers : E2M1Answers.Append((X: 0f, Nibble: (byte)0x0)).ToArray();
        var fx = e2m1.Select(a => a.X).ToArray();
        var fgot = RunTwice(device, DType.F32, DType.Fp4E2M1, fx, (c, s, x, y) => c.EncodeFp4(s, x, y), fx.Length).Select(Nibbles).ToArray();
        parts.Add(CompareAll("e2m1 answers", fx.Length, fgot, e2m1.Select(a => a.Nibble).ToArray(), (a, b) => a == b, i => FloatText(fx[i])));

        foreach (var dtype in new[] { DType.BF16, DType.F16 })
        {
            var hx = HalfAnswers.Select(a => a.X).ToArray();
            var hgot = RunTwice(device, DType.F32, dtype, hx, (c, s, x, y) => c.EncodeHalf(s, x, y), hx.Length)
                .Select(b => MemoryMarshal.Cast<byte, ushort>(b.AsSpan()).ToArray()).ToArray();
            var hwant = HalfAnswers.Select(a => dtype == DType.BF16 ? a.Bf16 : a.F16).ToArray();
            parts.Add(CompareAll($"{Short(dtype)} answers", hx.Length, hgot, hwant, (a, b) => a == b, i => FloatText(hx[i])));
        }

        foreach (var (dtype, table) in new[] { (DType.Fp8E4M3, E4M3Values), (DType.Fp8E5M2, E5M2Values) })
        {
            var bytes = table.Select(t => t.Bits).ToArray();
            var got = DeviceDecode(device, dtype, bytes, bytes.Length);
            parts.Add(CompareAll($"{Short(dtype)} values", bytes.Length, got, table.Select(t => t.Value).ToArray(), FloatsMatch, i => $"pattern 0x{bytes[i]:X2}"));
        }
        var packed = Enumerable.Range(0, 8).Select(i => (byte)(2 * i | (2 * i + 1) << 4)).ToArray();
        parts.Add(CompareAll("e2m1 values", 16, DeviceDecode(device, DType.Fp4E2M1, packed, 16), E2M1Values, FloatsMatch, i => $"nibble 0x{i:X}"));
        return CaseResult.All(parts.ToArray());
    }

    // ----- sweeps of inputs -----

    private static IEnumerable<(string, float[])> Fp8Sweeps(DType dtype)
    {
        yield return ("bf16 patterns", Bf16Patterns());
        yield return ("fp16 patterns", F16Patterns());
        yield return ($"{Short(dtype)} midpoints", Midpoints(CodeValues(dtype), dtype == DType.Fp8E4M3 ? 480.0 : 65536.0));
    }

    /// <summary>All 65536 bf16 patterns as floats: every sign, exponent, inf, NaN, subnormal.</summary>
    private static float[] Bf16Patterns() => Enumerable.Range(0, 65536).Select(i => BitConverter.UInt32BitsToSingle((uint)i << 16)).ToArray();

    /// <summary>All 65536 fp16 patterns as floats: dense where fp8 and fp4 live.</summary>
    private static float[] F16Patterns() => Enumerable.Range(0, 65536).Select(i => (float)BitConverter.UInt16BitsToHalf((ushort)i)).ToArray();

    private static float[] Hashed(int count, uint seed) =>
        Enumerable.Range(0, count).Select(i => BitConverter.UInt32BitsToSingle(RandomFill.Hash32(seed ^ RandomFill.Hash32((uint)i)))).ToArray();

    /// <summary>The non-negative finite values of a format, ascending.</summary>
    private static double[] CodeValues(DType dtype) => dtype switch
    {
        DType.Fp8E4M3 => Enumerable.Range(0, Fp8E4M3.MaxFinite + 1).Select(i => (double)Fp8E4M3.ToFloat((byte)i)).ToArray(),
        DType.Fp8E5M2 => Enumerable.Range(0, Fp8E5M2.MaxFinite + 1).Select(i => (double)Fp8E5M2.ToFloat((byte)i)).ToArray(),
        DType.Fp4E2M1 => Enumerable.Range(0, Fp4E2M1.MaxFinite + 1).Select(i => (double)Fp4E2M1.ToFloat((byte)i)).ToArray(),
        DType.F16 => Enumerable.Range(0, 0x7C00).Select(i => (double)BitConverter.UInt16BitsToHalf((ushort)i)).ToArray(),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "no value list"),
    };

    /// <summary>
    /// Each value, each midpoint between neighbours (a tie) and the floats one ulp either side of it
    /// (just off the tie), both signs. <paramref name="next"/> is the value the format would have after
    /// its largest, so the midpoint above the top is the overflow boundary.
    /// </summary>
    private static float[] Midpoints(double[] values, double next)
    {
        var list = new List<float>();
        for (int i = 0; i < values.Length; i++)
        {
            double upper = i + 1 < values.Length ? values[i + 1] : next;
            float mid = (float)((values[i] + upper) / 2); // exact: one bit more than the format has
            foreach (var v in new[] { (float)values[i], mid, MathF.BitDecrement(mid), MathF.BitIncrement(mid) })
            {
                list.Add(v);
                list.Add(-v);
            }
        }
        return list.ToArray();
    }

    /// <summary>bf16 ties are the floats whose low 16 bits are 0x8000; with the floats next to them.</summary>
    private static float[] Bf16Midpoints()
    {
        var list = new List<float>();
        for (uint hi = 0; hi < 0x7F80; hi++)
            foreach (uint low in new uint[] { 0x7FFF, 0x8000, 0x8001 })
            {
                list.Add(BitConverter.UInt32BitsToSingle(hi << 16 | low));
                list.Add(BitConverter.UInt32BitsToSingle(0x8000_0000u | hi << 16 | low));
            }
        return list.ToArray();
    }

    // ----- running and comparing -----

    private delegate void ConvertOp(FormatConvert convert, ComputeStream stream, Tensor input, Tensor output);

    /// <summary>Uploads <paramref name="inputs"/>, converts into an output pre-filled with 0x00, then again with 0xFF.</summary>
    private static byte[][] RunTwice(Device device, DType inType, DType outType, float[] inputs, ConvertOp convert, int elements)
    {
        var conv = ConverterFor(device);
        using var inBuf = device.AllocateTensor(inType, new long[] { elements }, out var x, "format-in");
        using var outBuf = device.AllocateTensor(outType, new long[] { elements }, out var y, "format-out");
        x.CopyFrom<float>(inputs);
        var stream = device.DefaultStream;
        var results = new byte[2][];
        for (int run = 0; run < 2; run++)
        {
            stream.Fill8Async(y.Ptr, run == 0 ? (byte)0x00 : (byte)0xFF, y.ByteCount);
            convert(conv, stream, x, y);
            stream.Synchronize();
            results[run] = y.ToArray<byte>();
        }
        return results;
    }

    private static float[][] DeviceDecode(Device device, DType dtype, byte[] input, int elements)
    {
        var conv = ConverterFor(device);
        using var inBuf = device.AllocateTensor(dtype, new long[] { elements }, out var x, "format-in");
        using var outBuf = device.AllocateTensor(DType.F32, new long[] { elements }, out var y, "format-out");
        x.CopyFrom<byte>(input);
        var stream = device.DefaultStream;
        var results = new float[2][];
        for (int run = 0; run < 2; run++)
        {
            stream.Fill8Async(y.Ptr, run == 0 ? (byte)0x00 : (byte)0xFF, y.ByteCount);
            conv.Decode(stream, x, y);
            stream.Synchronize();
            results[run] = y.ToArray<float>();
        }
        return results;
    }

    private static CaseResult CompareAll<T>(string what, int count, T[][] runs, T[] expected, Func<T, T, bool> match, Func<int, string> describe)
    {
        int mismatches = 0, first = -1;
        T firstActual = default!;
        for (int i = 0; i < count; i++)
        {
            foreach (var run in runs)
            {
                if (match(run[i], expected[i])) continue;
                if (first < 0) (first, firstActual) = (i, run[i]);
                mismatches++;
                break;
            }
        }
        string detail = $"{what}: {count} inputs, {mismatches} mismatches";
        if (first >= 0) detail += $" (first: {describe(first)} gave {Text(firstActual)}, expected {Text(expected[first])})";
        return mismatches == 0 ? CaseResult.Pass(detail) : CaseResult.Fail(detail);
    }

    private static bool FloatsMatch(float a, float b) =>
        float.IsNaN(a) ? float.IsNaN(b) : BitConverter.SingleToUInt32Bits(a) == BitConverter.SingleToUInt32Bits(b);

    private static float HostDecode(DType dtype, byte bits) => dtype switch
    {
        DType.Fp8E4M3 => Fp8E4M3.ToFloat(bits),
        DType.Fp8E5M2 => Fp8E5M2.ToFloat(bits),
        _ => Fp4E2M1.ToFloat(bits),
    };

    private static byte[] Nibbles(byte[] packed)
    {
        var n = new byte[packed.Length * 2];
        Int4Packing.UnpackUnsigned(packed, n);
        return n;
    }

    private static string FloatText(float x) => $"{x:R} (0x{BitConverter.SingleToUInt32Bits(x):X8})";

    private static string Text<T>(T v) => v switch
    {
        float f => FloatText(f),
        byte b => $"0x{b:X2}",
        ushort u => $"0x{u:X4}",
        _ => $"{v}",
    };
}

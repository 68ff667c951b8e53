namespace GraphEngine.Kernels.Quant;

/// <summary>
/// The stored weight layout of the int8-activation GEMM (w8a8, w4a8; native/gemm/int8_act_gemm.cu), built on the
/// host from logical codes [N, K] and scales [N, groups]. N and K are zero-padded to multiples of 128 (Np, Kp), so
/// the kernel has no K tail and no weight-row bound. int8: one byte per code, rows of Kp bytes. int4: rows of Kp / 2
/// bytes; within each 32-wide K step (16 bytes) byte b holds element b in its low nibble and element b + 16 in its
/// high nibble (two's complement), so a lane's B fragment is one 32-bit word. Scales are stored transposed,
/// [groups, Np] with padded columns 0, so a K block's scales of neighbouring columns are contiguous.
/// </summary>
public static class Int8ActPacking
{
    /// <summary>The K block of the kernel and the only scale group it takes besides per channel.</summary>
    public const int Block = 128;

    /// <summary>
    /// The largest Kp a per-channel scale allows: the int32 sum of Kp products of at most 127 · 128 in magnitude
    /// (int4 codes enter the MMA as 16 q) stays below 2^31 up to 132104; 131072 is the power of two below it.
    /// </summary>
    public const int MaxPerChannelK = 131072;

    /// <summary>Bytes of one stored weight row: Kp for int8, Kp / 2 for int4.</summary>
    public static int RowBytes(WeightOnlyFormat format, int k) => format == WeightOnlyFormat.Int8 ? Fp8Quant.Pad128(k) : Fp8Quant.Pad128(k) / 2;

    /// <summary>Scale groups the kernel reads along K: Kp / 128 for 128-wide groups, else 1.</summary>
    public static int Groups(GroupSize group, int k) => group.IsPerChannel ? 1 : Fp8Quant.Pad128(k) / Block;

    /// <summary>
    /// Rejects what the kernel cannot run, naming <paramref name="source"/> and the value: groups other than per
    /// channel and 128, int8 with groups, a group that does not divide K, and a per-channel K past <see cref="MaxPerChannelK"/>.
    /// </summary>
    public static void Validate(WeightOnlyFormat format, GroupSize group, int n, int k, string source)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), n, $"{source}: out features must be >= 1");
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), k, $"{source}: in features must be >= 1");
        if (!group.IsPerChannel)
        {
            if (format == WeightOnlyFormat.Int8)
                throw new ArgumentException($"{source}: w8a8 has one scale per output channel; group size {group.Size} is not supported (use per-channel)", "groupSize");
            if (group.Size != Block)
                throw new ArgumentException($"{source}: w4a8 group size must be per-channel or {Block}, got {group.Size}", "groupSize");
            if (k % Block != 0)
                throw new ArgumentException($"{source}: in features K={k} is not a multiple of the group size {Block}", "groupSize");
        }
        else if (Fp8Quant.Pad128(k) > MaxPerChannelK)
            throw new ArgumentException($"{source}: in features K={k} exceeds {MaxPerChannelK} for per-channel scales (the int32 sum over K would overflow); use group size {Block}", nameof(k));
    }

    /// <summary>Logical codes <paramref name="q"/> [N, K] and scales [N, groups] into the stored layout: <paramref name="packed"/> [Np, RowBytes] and <paramref name="packedScales"/> [groups, Np].</summary>
    public static void Pack(WeightOnlyFormat format, GroupSize group, int n, int k, ReadOnlySpan<sbyte> q, ReadOnlySpan<float> scales,
        Span<byte> packed, Span<float> packedScales)
    {
        int np = Fp8Quant.Pad128(n), row = RowBytes(format, k), groups = Groups(group, k);
        if (q.Length != (long)n * k) throw new ArgumentException($"q holds {q.Length} codes, expected {n}x{k}", nameof(q));
        if (scales.Length != (long)n * groups) throw new ArgumentException($"scales hold {scales.Length} values, expected {n}x{groups}", nameof(scales));
        if (packed.Length != (long)np * row) throw new ArgumentException($"packed holds {packed.Length} bytes, expected {np}x{row}", nameof(packed));
        if (packedScales.Length != (long)groups * np) throw new ArgumentException($"packedScales holds {packedScales.Length} values, expected {groups}x{np}", nameof(packedScales));
        packed.Clear();
        packedScales.Clear();
        for (int j = 0; j < n; j++)
        {
            var src = q.Slice(j * k, k);
            var dst = packed.Slice(j * row, row);
            if (format == WeightOnlyFormat.Int8)
                for (int c = 0; c < k; c++) dst[c] = (byte)src[c];
            else
                for (int c = 0; c < k; c++)
                {
                    var (at, high) = Int4Position(c);
                    int nibble = src[c] & 0xF;
                    dst[at] = (byte)(high ? (dst[at] & 0x0F) | (nibble << 4) : (dst[at] & 0xF0) | nibble);
                }
            for (int g = 0; g < groups; g++) packedScales[g * np + j] = scales[j * groups + g];
        }
    }

    /// <summary>Byte of a stored int4 row holding element <paramref name="c"/>, and whether it is the high nibble.</summary>
    public static (int Byte, bool High) Int4Position(int c) => (c / 32 * 16 + c % 16, c % 32 >= 16);

    /// <summary>The logical code at [<paramref name="j"/>, <paramref name="c"/>] of a stored layout.</summary>
    public static int CodeAt(WeightOnlyFormat format, ReadOnlySpan<byte> packed, int k, int j, int c)
    {
        int row = RowBytes(format, k);
        if (format == WeightOnlyFormat.Int8) return (sbyte)packed[j * row + c];
        var (at, high) = Int4Position(c);
        int nibble = high ? packed[j * row + at] >> 4 : packed[j * row + at] & 0xF;
        return nibble >= 8 ? nibble - 16 : nibble;
    }

    /// <summary>The stored weights as float [N, K]: code · scale of its group (what the kernel multiplies with).</summary>
    public static float[] Dequantize(WeightOnlyFormat format, GroupSize group, int n, int k, byte[] packed, float[] packedScales)
    {
        var w = new float[(long)n * k];
        int rows = Math.Max(1, (1 << 16) / k);
        Parallel.For(0, (n + rows - 1) / rows, b =>
        {
            int j0 = b * rows, j1 = Math.Min(n, j0 + rows);
            DequantizeRows(format, group, n, k, packed, packedScales, j0, j1, w.AsSpan((int)((long)j0 * k), (j1 - j0) * k));
        });
        return w;
    }

    /// <summary>
    /// The stored weights as float [N, K] into <paramref name="destination"/>, on the calling thread (callers that check
    /// many experts run one per core).
    /// </summary>
    public static void Dequantize(WeightOnlyFormat format, GroupSize group, int n, int k, ReadOnlySpan<byte> packed, ReadOnlySpan<float> packedScales,
        Span<float> destination)
    {
        if (destination.Length != (long)n * k) throw new ArgumentException($"destination holds {destination.Length} values, expected {n}x{k}", nameof(destination));
        DequantizeRows(format, group, n, k, packed, packedScales, 0, n, destination);
    }

    /// <summary>Rows [j0, j1) of the stored weights as floats: int8 one code a byte; int4 per 32-wide K step, byte b's low
    /// nibble is element b and its high nibble element b + 16 (<see cref="Int4Position"/>).</summary>
    private static void DequantizeRows(WeightOnlyFormat format, GroupSize group, int n, int k, ReadOnlySpan<byte> packed, ReadOnlySpan<float> packedScales,
        int j0, int j1, Span<float> destination)
    {
        int np = Fp8Quant.Pad128(n), row = RowBytes(format, k), groups = Groups(group, k);
        if (packed.Length < (long)np * row) throw new ArgumentException($"packed holds {packed.Length} bytes, expected {np}x{row}", nameof(packed));
        if (packedScales.Length < (long)groups * np) throw new ArgumentException($"packedScales holds {packedScales.Length} values, expected {groups}x{np}", nameof(packedScales));
        for (int j = j0; j < j1; j++)
        {
            var src = packed.Slice(j * row, row);
            var dst = destination.Slice((j - j0) * k, k);
            for (int c0 = 0; c0 < k; c0 += Block)
            {
                float scale = packedScales[(groups == 1 ? 0 : c0 / Block) * np + j];
                int end = Math.Min(k, c0 + Block);
                if (format == WeightOnlyFormat.Int8)
                {
                    for (int c = c0; c < end; c++) dst[c] = (sbyte)src[c] * scale;
                    continue;
                }
                // c0 is a multiple of 128, so each step starts a 16-byte word pair; (x ^ 8) - 8 sign-extends a nibble.
                for (int c = c0; c < end; c += 32)
                {
                    var word = src.Slice(c / 2, 16);
                    int low = Math.Min(16, end - c), high = Math.Min(32, end - c);
                    for (int b = 0; b < low; b++) dst[c + b] = (((word[b] & 0xF) ^ 8) - 8) * scale;
                    for (int b = 16; b < high; b++) dst[c + b] = (((word[b - 16] >> 4) ^ 8) - 8) * scale;
                }
            }
        }
    }
}

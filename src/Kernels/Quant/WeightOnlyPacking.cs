namespace GraphEngine.Kernels.Quant;

/// <summary>
/// Host definition of the weight-only quantization and of the packed layout the GPU kernel reads
/// (native/weight_only_gemm.cu documents the layout and why). The device quantizer and repack kernels
/// (native/weight_quantize.cu) implement exactly these functions; tests compare bytes.
/// </summary>
public static class WeightOnlyPacking
{
    /// <summary>Channels per A tile (the mma's m16).</summary>
    public const int TileN = 16;

    /// <summary>K is padded to this (the tiled kernel's step; also a multiple of both chunk sizes).</summary>
    public const int PadK = 64;

    /// <summary>K elements per packed chunk: 64 for int4, 32 for int8 (16 bytes per lane either way).</summary>
    public static int ChunkK(WeightOnlyFormat f) => f == WeightOnlyFormat.Int4 ? 64 : 32;
    /// <paramref name="n"/> rounded up to <see cref="TileN"/>.
    public static int PaddedN(int n) => (n + TileN - 1) / TileN * TileN;
    /// <paramref name="k"/> rounded up to <see cref="PadK"/>.
    public static int PaddedK(int k) => (k + PadK - 1) / PadK * PadK;
    /// <summary>Packed chunks along <paramref name="k"/> (padded).</summary>
    public static int ChunksK(WeightOnlyFormat f, int k) => PaddedK(k) / ChunkK(f);

    /// <summary>Bytes of the packed weights: 16 per lane, 32 lanes per (16-channel tile, chunk).</summary>
    public static long PackedBytes(WeightOnlyFormat f, int n, int k) => (long)PaddedN(n) / TileN * ChunksK(f, k) * 32 * 16;

    /// <summary>
    /// Quantizes one row-major [n, k] float matrix: per (row, group) scale = max|w| / qmax in fp32,
    /// q = round-half-even(w / scale) clamped to [-qmax, qmax]; NaN weights quantize to 0.
    /// </summary>
    /// <remarks>Rows are independent: blocks of rows run in parallel, each element the same arithmetic as alone.</remarks>
    public static unsafe void Quantize(ReadOnlySpan<float> w, int n, int k, WeightOnlyScheme scheme, Span<sbyte> q, Span<float> scales)
    {
        scheme.Validate(n, k, "quantize");
        int groups = scheme.Groups(k), group = k / groups, qmax = scheme.QMax;
        if (w.Length != (long)n * k) throw new ArgumentException($"weights hold {w.Length} values, expected {n}x{k}", nameof(w));
        if (q.Length != (long)n * k) throw new ArgumentException($"q holds {q.Length} values, expected {n}x{k}", nameof(q));
        if (scales.Length != (long)n * groups) throw new ArgumentException($"scales hold {scales.Length} values, expected {n}x{groups}", nameof(scales));
        fixed (float* pw = w)
        fixed (sbyte* pq = q)
        fixed (float* ps = scales)
        {
            nint wAt = (nint)pw, qAt = (nint)pq, sAt = (nint)ps;
            void Rows(int first, int end)
            {
                var ws = new ReadOnlySpan<float>((float*)wAt + (long)first * k, (end - first) * k);
                var qs = new Span<sbyte>((sbyte*)qAt + (long)first * k, (end - first) * k);
                var ss = new Span<float>((float*)sAt + (long)first * groups, (end - first) * groups);
                for (int r = 0; r < end - first; r++)
                    for (int gi = 0; gi < groups; gi++)
                    {
                        int b = r * k + gi * group;
                        float m = 0f;
                        for (int i = 0; i < group; i++)
                        {
                            float a = MathF.Abs(ws[b + i]);
                            if (a > m) m = a;
                        }
                        float scale = m / qmax;
                        for (int i = 0; i < group; i++) qs[b + i] = QuantizeValue(ws[b + i], scale, qmax);
                        ss[r * groups + gi] = scale;
                    }
            }
            // About 1M elements per task.
            int per = Math.Max(1, (1 << 20) / Math.Max(1, k));
            int tasks = (n + per - 1) / per;
            if (tasks <= 1) Rows(0, n);
            else Parallel.For(0, tasks, t => Rows(t * per, Math.Min(n, (t + 1) * per)));
        }
    }

    /// <paramref name="w"/> / <paramref name="scale"/> rounded half to even and clamped to ±<paramref name="qmax"/>; 0 for a zero scale or NaN.
    public static sbyte QuantizeValue(float w, float scale, int qmax)
    {
        float v = scale == 0f ? 0f : MathF.Round(w / scale, MidpointRounding.ToEven);
        if (float.IsNaN(v)) v = 0f;
        v = Math.Clamp(v, -qmax, qmax);
        return (sbyte)(int)v;
    }

    /// <summary>Lane-fragment coordinates of element e of lane's k-tile (the mma A layout).</summary>
    private static void FragmentCoordinates(int lane, int e, out int row, out int col)
    {
        int g = lane >> 2, t = lane & 3;
        row = g + ((e >> 1) & 1) * 8;
        col = 2 * t + (e & 1) + (e >> 2) * 8;
    }

    /// <summary>Element of byte b (and nibble h for int4) of a lane's 16 bytes: k-tile and fragment index.</summary>
    private static (int Kt, int E) ByteElement(WeightOnlyFormat f, int b, int h)
    {
        if (f == WeightOnlyFormat.Int8) return (b >> 3, b & 7);
        int p = 2 * (b & 3) + h;
        return (b >> 2, p < 4 ? 2 * p : 2 * (p - 4) + 1);
    }

    /// <summary>Logical q [n, k] -> packed bytes (see the layout in native/weight_only_gemm.cu).</summary>
    public static void Repack(WeightOnlyFormat f, ReadOnlySpan<sbyte> q, int n, int k, Span<byte> packed)
    {
        if (packed.Length != PackedBytes(f, n, k)) throw new ArgumentException($"packed holds {packed.Length} bytes, expected {PackedBytes(f, n, k)}", nameof(packed));
        int chunks = ChunksK(f, k), chunkK = ChunkK(f), halves = f == WeightOnlyFormat.Int4 ? 2 : 1;
        int tiles = PaddedN(n) / TileN;
        for (int tile = 0; tile < tiles; tile++)
            for (int c = 0; c < chunks; c++)
                for (int lane = 0; lane < 32; lane++)
                {
                    long off = (((long)tile * chunks + c) * 32 + lane) * 16;
                    for (int b = 0; b < 16; b++)
                    {
                        int v = 0;
                        for (int h = 0; h < halves; h++)
                        {
                            var (kt, e) = ByteElement(f, b, h);
                            FragmentCoordinates(lane, e, out int row, out int col);
                            int nn = tile * TileN + row, kk = c * chunkK + kt * 16 + col;
                            int qv = nn < n && kk < k ? q[nn * k + kk] : 0;
                            if (f == WeightOnlyFormat.Int4) v |= ((qv + 8) & 0xF) << (4 * h);
                            else v = (qv + 128) & 0xFF;
                        }
                        packed[(int)(off + b)] = (byte)v;
                    }
                }
    }

    /// <summary>Packed bytes -> logical q [n, k] (inverse of <see cref="Repack"/> on the unpadded part).</summary>
    public static void Unpack(WeightOnlyFormat f, ReadOnlySpan<byte> packed, int n, int k, Span<sbyte> q)
    {
        if (packed.Length != PackedBytes(f, n, k)) throw new ArgumentException($"packed holds {packed.Length} bytes, expected {PackedBytes(f, n, k)}", nameof(packed));
        if (q.Length != (long)n * k) throw new ArgumentException($"q holds {q.Length} values, expected {n}x{k}", nameof(q));
        UnpackTiles(f, packed, n, k, q, 0, PaddedN(n) / TileN);
    }

    /// <summary>Unpacks 16-channel tiles [<paramref name="firstTile"/>, <paramref name="endTile"/>): rows 16·tile .. 16·tile + 15 of q.</summary>
    /// <remarks>Every (tile, chunk) block has the same layout, so the (row, column) of each of its values is looked up
    /// once per call (<see cref="ChunkMap"/>) and turned into an offset in q; blocks wholly inside [n, k] skip the
    /// bounds test.</remarks>
    private static void UnpackTiles(WeightOnlyFormat f, ReadOnlySpan<byte> packed, int n, int k, Span<sbyte> q, int firstTile, int endTile)
    {
        int chunks = ChunksK(f, k), chunkK = ChunkK(f);
        bool int4 = f == WeightOnlyFormat.Int4;
        var (rows, cols) = int4 ? Int4Map : Int8Map;
        Span<int> offsets = stackalloc int[rows.Length];
        for (int i = 0; i < rows.Length; i++) offsets[i] = rows[i] * k + cols[i];
        const int blockBytes = 32 * 16;
        for (int tile = firstTile; tile < endTile; tile++)
            for (int c = 0; c < chunks; c++)
            {
                var src = packed.Slice(((tile * chunks) + c) * blockBytes, blockBytes);
                int row0 = tile * TileN, col0 = c * chunkK, at = row0 * k + col0;
                bool whole = row0 + TileN <= n && col0 + chunkK <= k;
                if (whole && int4)
                    for (int i = 0; i < blockBytes; i++)
                    {
                        int v = src[i];
                        q[at + offsets[2 * i]] = (sbyte)((v & 0xF) - 8);
                        q[at + offsets[2 * i + 1]] = (sbyte)((v >> 4) - 8);
                    }
                else if (whole)
                    for (int i = 0; i < blockBytes; i++) q[at + offsets[i]] = (sbyte)(src[i] - 128);
                else
                    for (int e = 0; e < rows.Length; e++)
                    {
                        if (row0 + rows[e] >= n || col0 + cols[e] >= k) continue;
                        int v = src[int4 ? e >> 1 : e];
                        q[at + offsets[e]] = (sbyte)(int4 ? ((v >> (4 * (e & 1))) & 0xF) - 8 : v - 128);
                    }
            }
    }

    private static readonly (byte[] Rows, byte[] Cols) Int4Map = ChunkMap(WeightOnlyFormat.Int4), Int8Map = ChunkMap(WeightOnlyFormat.Int8);

    /// <summary>Row in the tile and column in the chunk of value (lane · 16 + byte) · halves + nibble of one (tile, chunk) block.</summary>
    private static (byte[] Rows, byte[] Cols) ChunkMap(WeightOnlyFormat f)
    {
        int halves = f == WeightOnlyFormat.Int4 ? 2 : 1;
        var rows = new byte[32 * 16 * halves];
        var cols = new byte[rows.Length];
        for (int lane = 0; lane < 32; lane++)
            for (int b = 0; b < 16; b++)
                for (int h = 0; h < halves; h++)
                {
                    var (kt, e) = ByteElement(f, b, h);
                    FragmentCoordinates(lane, e, out int row, out int col);
                    int i = (lane * 16 + b) * halves + h;
                    rows[i] = (byte)row;
                    cols[i] = (byte)(kt * 16 + col);
                }
        return (rows, cols);
    }

    /// <summary>Scales [n, groups] -> [groups, Npad], zero in the padding.</summary>
    public static void RepackScales(ReadOnlySpan<float> scales, int n, int groups, Span<float> packed)
    {
        int npad = PaddedN(n);
        if (packed.Length != groups * npad) throw new ArgumentException($"packed scales hold {packed.Length}, expected {groups}x{npad}", nameof(packed));
        for (int gi = 0; gi < groups; gi++)
            for (int c = 0; c < npad; c++)
                packed[gi * npad + c] = c < n ? scales[c * groups + gi] : 0f;
    }

    /// <summary>Dequantized weights [n, k] = q * scale (fp32 product), from the packed form.</summary>
    /// <remarks>Tiles of 16 channels are unpacked and scaled in parallel; each element is the same single fp32 product.</remarks>
    public static unsafe float[] Dequantize(WeightOnlyScheme scheme, ReadOnlySpan<byte> packed, ReadOnlySpan<float> packedScales, int n, int k)
    {
        var f = scheme.Format;
        if (packed.Length != PackedBytes(f, n, k)) throw new ArgumentException($"packed holds {packed.Length} bytes, expected {PackedBytes(f, n, k)}", nameof(packed));
        int groups = scheme.Groups(k), group = k / groups, npad = PaddedN(n);
        if (packedScales.Length < (long)groups * npad) throw new ArgumentException($"packed scales hold {packedScales.Length}, expected {groups}x{npad}", nameof(packedScales));
        var q = new sbyte[(long)n * k];
        var w = new float[q.Length];
        int tiles = npad / TileN;
        fixed (byte* pp = packed)
        fixed (float* ps = packedScales)
        {
            nint packedAt = (nint)pp, scalesAt = (nint)ps;
            int packedLength = packed.Length, scalesLength = packedScales.Length;
            void Tiles(int first, int end)
            {
                var src = new ReadOnlySpan<byte>((byte*)packedAt, packedLength);
                var sc = new ReadOnlySpan<float>((float*)scalesAt, scalesLength);
                UnpackTiles(f, src, n, k, q, first, end);
                for (int r = first * TileN; r < Math.Min(n, end * TileN); r++)
                    for (int i = 0; i < k; i++)
                        w[r * k + i] = q[r * k + i] * sc[(i / group) * npad + r];
            }
            // About 2M elements per task.
            int per = Math.Max(1, (1 << 21) / Math.Max(1, TileN * k));
            int tasks = (tiles + per - 1) / per;
            if (tasks <= 1) Tiles(0, tiles);
            else Parallel.For(0, tasks, t => Tiles(t * per, Math.Min(tiles, (t + 1) * per)));
        }
        return w;
    }

    /// <summary>int4 values packed two per byte, low nibble first, two's complement -> one sbyte each.</summary>
    public static void UnpackInt4Bytes(ReadOnlySpan<byte> packed, Span<sbyte> values)
    {
        if (values.Length != packed.Length * 2) throw new ArgumentException($"{packed.Length} packed bytes hold {packed.Length * 2} values, destination {values.Length}", nameof(values));
        for (int i = 0; i < packed.Length; i++)
        {
            values[2 * i] = (sbyte)((sbyte)(packed[i] << 4) >> 4);
            values[2 * i + 1] = (sbyte)((sbyte)packed[i] >> 4);
        }
    }
}

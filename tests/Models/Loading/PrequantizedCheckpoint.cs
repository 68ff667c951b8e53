using GraphEngine.Kernels.Numerics;
using GraphEngine.Models.Checkpoints;
using GraphEngine.Tests.Models.Checkpoints;

namespace GraphEngine.Tests.Models.Loading;

/// <summary>
/// A small pre-quantized checkpoint as ModelOpt (NVFP4) or transformers' FineGrainedFP8 (block-wise fp8) write it:
/// the random bf16 model of <see cref="TinyCheckpoint.Generate"/>, every Linear weight ("*_proj.weight") not kept
/// unquantized encoded here on the host, routers, norms and kept modules left bf16/fp32. <see cref="Values"/> holds
/// what each weight is worth decoded back from the bytes written, by this file's own decoders (not the engine's), for
/// the float64 oracle. NVFP4 gives q/k/v, and each gate/up pair, one weight_scale_2 (from their joint amax), as ModelOpt's
/// export does. <paramref name="edit"/> may change the tensor list before it is written (the bad-file cases).
/// </summary>
internal sealed class PrequantizedCheckpoint
{
    public PrequantizedCheckpoint(string dir, string configJson, PrequantizedFormat format, Func<string, bool> keepUnquantized,
        int seed = 7, Action<List<(string Name, string DType, long[] Shape, byte[] Data)>>? edit = null)
    {
        Directory = dir;
        Format = format;
        File.WriteAllText(Path.Combine(dir, "config.json"), configJson);
        Model = HfModelConfig.Parse(configJson, Path.Combine(dir, "config.json"));
        var plain = TinyCheckpoint.Generate(Model, seed, ExpertLayout.PerExpert);
        bool Quantized(string name) => name.EndsWith("_proj.weight", StringComparison.Ordinal) && !keepUnquantized(name);

        var amax = new Dictionary<string, float>(StringComparer.Ordinal);
        foreach (var (name, _, _, v) in plain.Where(t => Quantized(t.Name)))
            amax[Tie(name)] = Math.Max(amax.GetValueOrDefault(Tie(name)), v.Max(MathF.Abs));

        var list = new List<(string Name, string DType, long[] Shape, byte[] Data)>();
        foreach (var (name, dtype, shape, v) in plain)
        {
            if (!Quantized(name))
            {
                list.Add((name, dtype, shape, TinyCheckpoint.Encode(dtype, v)));
                Values[name] = v;
                continue;
            }
            string module = name[..^".weight".Length];
            int n = (int)shape[0], k = (int)shape[1];
            Stored.Add(name);
            if (format == PrequantizedFormat.Nvfp4)
            {
                float global = amax[Tie(name)] / (448f * 6f);
                var (packed, scales) = EncodeNvfp4(v, n, k, global);
                list.Add((name, "U8", new long[] { n, k / 2 }, packed));
                list.Add(($"{module}.weight_scale", "F8_E4M3", new long[] { n, k / 16 }, scales));
                list.Add(($"{module}.weight_scale_2", "F32", Array.Empty<long>(), BitConverter.GetBytes(global)));
                list.Add(($"{module}.input_scale", "F32", Array.Empty<long>(), BitConverter.GetBytes(1f / 448f)));
                Values[name] = DecodeNvfp4(packed, scales, global, n, k);
            }
            else
            {
                var (q, scales) = EncodeBlockFp8(v, n, k);
                list.Add((name, "F8_E4M3", new long[] { n, k }, q));
                list.Add(($"{module}.weight_scale_inv", "F32", new long[] { (n + 127) / 128, (k + 127) / 128 },
                    scales.SelectMany(BitConverter.GetBytes).ToArray()));
                Values[name] = DecodeBlockFp8(q, scales, n, k);
            }
        }
        edit?.Invoke(list);
        var w = new SafetensorsTestWriter();
        foreach (var (name, dtype, shape, data) in list) w.Add(name, dtype, shape, data);
        w.Write(Path.Combine(dir, "model.safetensors"));
    }

    public string Directory { get; }
    public PrequantizedFormat Format { get; }
    public ModelDescription Model { get; }

    /// <summary>Weights by name as the oracle sees them: decoded from the quantized bytes, or as written.</summary>
    public Dictionary<string, float[]> Values { get; } = new(StringComparer.Ordinal);

    /// <summary>Names of the weights written quantized.</summary>
    public HashSet<string> Stored { get; } = new(StringComparer.Ordinal);

    public float[] Weight(string name) =>
        Values.TryGetValue(name, out var v) ? v : throw new CheckpointException(Directory, name, "tensor is not in the checkpoint");

    /// <summary>
    /// What the engine multiplies a weight with: block-wise fp8 quantizes activations to e4m3 with one scale (amax / 448)
    /// per token per 128 channels, which this reproduces from the format's definition; NVFP4 keeps them as they are.
    /// </summary>
    public double[] Activations(string weight, double[] x, int n, int k)
    {
        if (Format != PrequantizedFormat.BlockFp8 || !Stored.Contains(weight)) return x;
        var y = new double[x.Length];
        for (int r = 0; r < n; r++)
            for (int c0 = 0; c0 < k; c0 += 128)
            {
                int end = Math.Min(k, c0 + 128);
                float a = 0;
                for (int c = c0; c < end; c++) a = MathF.Max(a, MathF.Abs((float)x[(long)r * k + c]));
                float scale = a / 448f;
                for (int c = c0; c < end; c++)
                    y[(long)r * k + c] = scale > 0 ? E4M3((float)x[(long)r * k + c] / scale) * (double)scale : 0;
            }
        return y;
    }

    /// <summary>The projections that share one NVFP4 global scale: q/k/v of an attention, gate/up of an MLP or expert.</summary>
    private static string Tie(string name)
    {
        foreach (var (part, group) in new[] { ("q_proj", "qkv"), ("k_proj", "qkv"), ("v_proj", "qkv"), ("gate_proj", "gate_up"), ("up_proj", "gate_up") })
            if (name.EndsWith($".{part}.weight", StringComparison.Ordinal)) return name[..^($"{part}.weight".Length)] + group;
        return name;
    }

    private static (byte[] Packed, byte[] Scales) EncodeNvfp4(float[] w, int n, int k, float global)
    {
        var packed = new byte[n * k / 2];
        var scales = new byte[n * k / 16];
        for (int r = 0; r < n; r++)
            for (int b = 0; b < k / 16; b++)
            {
                float bmax = 0;
                for (int j = 0; j < 16; j++) bmax = MathF.Max(bmax, MathF.Abs(w[r * k + b * 16 + j]));
                byte s = Fp8E4M3.FromFloat(bmax / 6f / global);
                scales[r * (k / 16) + b] = s;
                double denom = DecodeE4M3(s) * (double)global;
                for (int j = 0; j < 16; j++)
                {
                    int i = r * k + b * 16 + j;
                    byte code = denom > 0 ? Fp4E2M1.FromDouble(w[i] / denom) : (byte)0;
                    packed[i / 2] |= (byte)(code << (4 * (i & 1)));
                }
            }
        return (packed, scales);
    }

    private static (byte[] Q, float[] Scales) EncodeBlockFp8(float[] w, int n, int k)
    {
        int nb = (n + 127) / 128, kb = (k + 127) / 128;
        var q = new byte[n * k];
        var scales = new float[nb * kb];
        for (int bi = 0; bi < nb; bi++)
            for (int bj = 0; bj < kb; bj++)
            {
                float a = 0;
                for (int r = bi * 128; r < Math.Min(n, bi * 128 + 128); r++)
                    for (int c = bj * 128; c < Math.Min(k, bj * 128 + 128); c++) a = MathF.Max(a, MathF.Abs(w[r * k + c]));
                float s = a / 448f;
                scales[bi * kb + bj] = s;
                for (int r = bi * 128; r < Math.Min(n, bi * 128 + 128); r++)
                    for (int c = bj * 128; c < Math.Min(k, bj * 128 + 128); c++) q[r * k + c] = s > 0 ? Fp8E4M3.FromFloat(w[r * k + c] / s) : (byte)0;
            }
        return (q, scales);
    }

    private static float[] DecodeNvfp4(byte[] packed, byte[] scales, float global, int n, int k)
    {
        var w = new float[n * k];
        for (int i = 0; i < w.Length; i++)
            w[i] = (float)(DecodeE2M1((packed[i / 2] >> (4 * (i & 1))) & 0xF) * DecodeE4M3(scales[i / 16]) * global);
        return w;
    }

    private static float[] DecodeBlockFp8(byte[] q, float[] scales, int n, int k)
    {
        int kb = (k + 127) / 128;
        var w = new float[n * k];
        for (int r = 0; r < n; r++)
            for (int c = 0; c < k; c++) w[r * k + c] = (float)(DecodeE4M3(q[r * k + c]) * scales[r / 128 * kb + c / 128]);
        return w;
    }

    /// <summary>e2m1: sign bit 3, then magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6 (OCP MX spec, table 5).</summary>
    private static double DecodeE2M1(int code)
    {
        double[] magnitude = { 0, 0.5, 1, 1.5, 2, 3, 4, 6 };
        return (code & 8) != 0 ? -magnitude[code & 7] : magnitude[code & 7];
    }

    /// <summary>e4m3 (OCP fp8, "fn"): sign, 4 exponent bits of bias 7, 3 mantissa bits, subnormals at exponent 0.</summary>
    private static double DecodeE4M3(byte b)
    {
        int e = (b >> 3) & 0xF, m = b & 7;
        double v = e == 0 ? m / 8.0 * Math.Pow(2, -6) : (1 + m / 8.0) * Math.Pow(2, e - 7);
        return (b & 0x80) != 0 ? -v : v;
    }

    private static double E4M3(float x) => DecodeE4M3(Fp8E4M3.FromFloat(x));
}

using GraphEngine.Kernels.Numerics;
using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Models.Loading;

/// <summary>
/// What each engine layer of a loaded model should compute, in float64 from the checkpoint's weights and the
/// rule transformers runs for the model: RMSNorm, q/k/v as one projection [q | k | v], o_proj, the dense SwiGLU
/// MLP in its three engine steps, and the MoE block with the model's routing (ERNIE-4.5: fp32 router, softmax,
/// top-k of p + e_score_correction_bias, weights p / max(sum, moe_norm_min) rounded to bf16 as the router does;
/// Qwen3-MoE: logits in bf16, softmax, top-k, renormalised with norm_topk_prob). Inputs and outputs are
/// row-major [n, width]. Independent of the engine's kernels on purpose: it is the judge of both backends.
/// </summary>
public sealed class Float64Oracle
{
    private readonly Func<string, float[]> _weight;
    private readonly Func<string, double[], int, int, double[]>? _activations;
    private readonly Dictionary<string, float[]> _cache = new(StringComparer.Ordinal);

    /// <summary>An oracle for <paramref name="model"/> reading weights through <paramref name="weight"/>.</summary>
    /// <param name="model">The model whose shapes and routing rule the oracle follows.</param>
    /// <param name="weight">The values of a checkpoint tensor by name (row-major, as stored; a pre-quantized weight dequantized).</param>
    /// <param name="activations">Null, or what the engine's method multiplies with the weight of that name:
    /// (weight name, x [n, in], n, in) to the activations as that method's kernel sees them (block-wise fp8 quantizes
    /// them per token per 128 channels), returning x itself for the others. When given, a MoE expert's gate/up
    /// outputs and SwiGLU product are also rounded to bf16 where the engine stores them, because the down
    /// projection's activation quantizer would otherwise turn a rounding-level difference into a whole e4m3 step.</param>
    public Float64Oracle(ModelDescription model, Func<string, float[]> weight, Func<string, double[], int, int, double[]>? activations = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(weight);
        Model = model;
        _weight = weight;
        _activations = activations;
    }

    private double[] In(string weight, double[] x, int n, int inFeatures) =>
        _activations is null ? x : _activations(weight, x, n, inFeatures);

    private double[] Project(string weight, double[] x, int n, int inFeatures, int outFeatures) =>
        Linear(In(weight, x, n, inFeatures), n, inFeatures, W(weight), outFeatures);

    /// <summary>The model whose rules and shapes the oracle follows.</summary>
    public ModelDescription Model { get; }

    /// <summary>An oracle reading <paramref name="checkpoint"/>'s tensors on demand (kept once read).</summary>
    /// <remarks>A pre-quantized checkpoint's weights are dequantized from their bytes and scales, and the inputs of block-wise
    /// fp8 weights pass through the host definition of the engine's activation quantizer (e4m3, one scale per token
    /// per 128 channels), so the comparison measures the kernels, not the format.</remarks>
    public static Float64Oracle FromCheckpoint(CheckpointDirectory checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        var uploader = new TensorUploader(1 << 20);
        var model = checkpoint.Describe();
        if (CheckpointQuantization.Read(checkpoint) is null)
            return new Float64Oracle(model, name => ReadFloats(uploader, checkpoint.Get(name)));
        return new Float64Oracle(model, name =>
        {
            var t = checkpoint.Get(name);
            string module = name.EndsWith(".weight", StringComparison.Ordinal) ? name[..^".weight".Length] : name;
            return t.DType switch
            {
                SafetensorsDType.U8 => DequantizeNvfp4(ReadBytes(uploader, t), ReadBytes(uploader, checkpoint.Get($"{module}.weight_scale")),
                    BitConverter.ToSingle(ReadBytes(uploader, checkpoint.Get($"{module}.weight_scale_2"))), t.Shape),
                SafetensorsDType.F8E4M3 => DequantizeBlockFp8(ReadBytes(uploader, t),
                    ReadFloats(uploader, checkpoint.Get($"{module}.weight_scale_inv")), t.Shape),
                _ => ReadFloats(uploader, t),
            };
        }, (name, x, n, k) =>
            checkpoint.Contains(name) && checkpoint.Get(name).DType == SafetensorsDType.F8E4M3 ? Fp8Activations(x, n, k) : x);
    }

    private static byte[] ReadBytes(TensorUploader uploader, CheckpointTensor t)
    {
        var bytes = new byte[t.ByteLength];
        uploader.Upload(t, (chunk, offset) => chunk.CopyTo(bytes.AsSpan((int)offset)));
        return bytes;
    }

    /// <summary>w[r, c] = e2m1(nibble c of row r, low first) · e4m3(scale[r, c / 16]) · global, for a stored [N, K/2].</summary>
    private static float[] DequantizeNvfp4(byte[] packed, byte[] scales, float global, IReadOnlyList<long> shape)
    {
        int n = checked((int)shape[0]), k = checked((int)shape[1] * 2);
        var w = new float[(long)n * k];
        for (int r = 0; r < n; r++)
            for (int c = 0; c < k; c++)
            {
                long i = (long)r * k + c;
                w[i] = Fp4E2M1.ToFloat((byte)(packed[i / 2] >> (4 * (c & 1)))) * Fp8E4M3.ToFloat(scales[i / 16]) * global;
            }
        return w;
    }

    /// <summary>w[r, c] = e4m3(q[r, c]) · scale[r / 128, c / 128].</summary>
    private static float[] DequantizeBlockFp8(byte[] q, float[] scales, IReadOnlyList<long> shape)
    {
        int n = checked((int)shape[0]), k = checked((int)shape[1]), kb = (k + 127) / 128;
        var w = new float[(long)n * k];
        for (int r = 0; r < n; r++)
            for (int c = 0; c < k; c++)
                w[(long)r * k + c] = Fp8E4M3.ToFloat(q[(long)r * k + c]) * scales[r / 128 * kb + c / 128];
        return w;
    }

    /// <summary>Each row of x [n, k] through the engine's activation quantizer's host definition and back.</summary>
    private static double[] Fp8Activations(double[] x, int n, int k)
    {
        int kp = GraphEngine.Kernels.Quant.Fp8Quant.Pad128(k);
        var row = new float[k];
        var q = new byte[kp];
        var scales = new float[kp / 128];
        var y = new double[x.Length];
        for (int r = 0; r < n; r++)
        {
            for (int c = 0; c < k; c++) row[c] = (float)x[(long)r * k + c];
            GraphEngine.Kernels.Quant.Fp8Quant.HostQuantizeRow(row, GraphEngine.Kernels.Quant.Fp8ActScaling.PerToken128, q, scales);
            for (int c = 0; c < k; c++) y[(long)r * k + c] = (double)Fp8E4M3.ToFloat(q[c]) * scales[c / 128];
        }
        return y;
    }

    private static float[] ReadFloats(TensorUploader uploader, CheckpointTensor t)
    {
        var values = new float[t.Entry.ElementCount];
        var dtype = t.KernelDType;
        int size = dtype == GraphEngine.Kernels.DType.F32 ? 4 : 2;
        uploader.Upload(t, (chunk, offset) =>
        {
            long first = offset / size;
            for (int i = 0; i < chunk.Length / size; i++)
                values[first + i] = size == 4
                    ? BitConverter.ToSingle(chunk.Slice(i * 4, 4))
                    : HalfBits.ToFloat(BitConverter.ToUInt16(chunk.Slice(i * 2, 2)), dtype!.Value);
        });
        return values;
    }

    private float[] W(string name)
    {
        if (!_cache.TryGetValue(name, out var w)) _cache[name] = w = _weight(name);
        return w;
    }

    private static string P(int layer) => TensorNames.Layer(layer);

    /// <summary>input_layernorm (or post_attention_layernorm) of <paramref name="layer"/> over the residual stream x.</summary>
    public double[] Norm(int layer, bool postAttention, double[] x, int n) =>
        RmsNorm(x, n, W($"{P(layer)}.{(postAttention ? "post_attention_layernorm" : "input_layernorm")}.weight"), Model.RmsNormEps);

    /// <summary>[q | k | v] = x · [Wq; Wk; Wv]ᵀ, the engine's fused QKV.</summary>
    public double[] Qkv(int layer, double[] x, int n)
    {
        string a = $"{P(layer)}.self_attn";
        var q = Project($"{a}.q_proj.weight", x, n, Model.Hidden, Model.QOut);
        var k = Project($"{a}.k_proj.weight", x, n, Model.Hidden, Model.KvOut);
        var v = Project($"{a}.v_proj.weight", x, n, Model.Hidden, Model.KvOut);
        return ConcatColumns(n, (q, Model.QOut), (k, Model.KvOut), (v, Model.KvOut));
    }

    /// <summary>o_proj of <paramref name="layer"/>: <paramref name="attention"/> [n, heads × head_dim] to [n, hidden].</summary>
    public double[] OProj(int layer, double[] attention, int n) =>
        Project($"{P(layer)}.self_attn.o_proj.weight", attention, n, Model.QOut, Model.Hidden);

    /// <summary>[gate | up] of a dense layer's MLP, the engine's fused gate_up_proj.</summary>
    public double[] DenseGateUp(int layer, double[] x, int n)
    {
        int f = Model.DecoderLayers[layer].DenseFfn;
        var g = Project($"{P(layer)}.mlp.gate_proj.weight", x, n, Model.Hidden, f);
        var u = Project($"{P(layer)}.mlp.up_proj.weight", x, n, Model.Hidden, f);
        return ConcatColumns(n, (g, f), (u, f));
    }

    /// <summary>silu(gate) · up of a [n, 2F] gate_up output.</summary>
    public static double[] SwiGlu(double[] gateUp, int n, int f)
    {
        var y = new double[(long)n * f];
        for (int r = 0; r < n; r++)
            for (int c = 0; c < f; c++)
            {
                double g = gateUp[(long)r * 2 * f + c], u = gateUp[(long)r * 2 * f + f + c];
                y[(long)r * f + c] = g / (1 + Math.Exp(-g)) * u;
            }
        return y;
    }

    /// <summary>down_proj of dense <paramref name="layer"/>: <paramref name="act"/> [n, ffn] to [n, hidden].</summary>
    public double[] DenseDown(int layer, double[] act, int n) =>
        Project($"{P(layer)}.mlp.down_proj.weight", act, n, Model.DecoderLayers[layer].DenseFfn, Model.Hidden);

    /// <summary>The whole dense MLP: down(silu(gate x) · up x).</summary>
    public double[] DenseMlp(int layer, double[] x, int n) =>
        DenseDown(layer, SwiGlu(DenseGateUp(layer, x, n), n, Model.DecoderLayers[layer].DenseFfn), n);

    /// <summary>
    /// The MoE block of <paramref name="layer"/>. <paramref name="observed"/> (optional, [n, k]): the experts another
    /// implementation chose; a token whose choice differs only among near-tied scores (reported in <see cref="MoeResult.Tied"/>)
    /// is computed with that choice, so one rounding-level tie does not turn into a whole row of error.
    /// </summary>
    public MoeResult Moe(int layer, double[] x, int n, int[]? observed = null)
    {
        var m = Model.DecoderLayers[layer].Moe ?? throw new ArgumentException($"layer {layer} of {Model.Name} is dense", nameof(layer));
        int h = Model.Hidden, e = m.Experts, k = m.TopK, f = m.ExpertFfn;
        string p = $"{P(layer)}.mlp";
        var router = W(TensorNames.RouterGate(layer));
        var logits = Linear(x, n, h, router, e);
        bool ernie = m.Routing == MoeRouting.ErnieBiasedSoftmax;
        // Qwen3-MoE's router runs in the model dtype, so its logits are bf16 before the fp32 softmax.
        if (!m.RouterFp32)
            for (int i = 0; i < logits.Length; i++) logits[i] = Bf16.Round((float)logits[i]);
        float[]? bias = m.SelectionBias ? SelectionBias(layer) : null;

        var ids = new int[n * k];
        var weights = new double[n * k];
        var scores = new double[(long)n * e];
        var tied = new bool[n];
        var mismatched = new bool[n];
        var y = new double[(long)n * h];
        for (int t = 0; t < n; t++)
        {
            var prob = Softmax(logits.AsSpan(t * e, e));
            var score = new double[e];
            for (int j = 0; j < e; j++) score[j] = prob[j] + (bias?[j] ?? 0);
            score.CopyTo(scores.AsSpan(t * e, e));
            var order = Enumerable.Range(0, e).OrderByDescending(j => score[j]).ThenBy(j => j).ToArray();
            var chosen = order.Take(k).ToArray();
            if (observed is not null)
            {
                var seen = observed.AsSpan(t * k, k).ToArray();
                if (!seen.Order().SequenceEqual(chosen.Order()))
                {
                    double kth = score[order[k - 1]];
                    double margin = TieMargin(m, logits.AsSpan(t * e, e));
                    bool tie = seen.All(j => j >= 0 && j < e && score[j] >= kth - margin) && seen.Distinct().Count() == k;
                    if (tie)
                    {
                        tied[t] = true;
                        chosen = seen;
                    }
                    else mismatched[t] = true;
                }
            }
            double sum = chosen.Sum(j => prob[j]);
            bool renorm = ernie || m.NormTopKProb;
            double denom = renorm ? Math.Max(sum, ernie ? m.NormMin : 0) : 1;
            for (int s = 0; s < k; s++)
            {
                ids[t * k + s] = chosen[s];
                double wgt = prob[chosen[s]] / denom;
                // ERNIE's router hands the weights on in the activation dtype.
                weights[t * k + s] = ernie ? Bf16.Round((float)wgt) : wgt;
            }
        }

        var expertIn = new double[h];
        for (int t = 0; t < n; t++)
        {
            Array.Copy(x, (long)t * h, expertIn, 0, h);
            for (int s = 0; s < k; s++)
            {
                int ex = ids[t * k + s];
                var o = ExpertMlp(layer, ex, expertIn, f);
                for (int c = 0; c < h; c++) y[(long)t * h + c] += weights[t * k + s] * o[c];
            }
        }
        if (m.SharedExperts > 0)
        {
            var sg = Linear(x, n, h, W($"{p}.shared_experts.gate_proj.weight"), m.SharedExpertFfn);
            var su = Linear(x, n, h, W($"{p}.shared_experts.up_proj.weight"), m.SharedExpertFfn);
            var act = new double[sg.Length];
            for (int i = 0; i < act.Length; i++) act[i] = sg[i] / (1 + Math.Exp(-sg[i])) * su[i];
            var sd = Linear(act, n, m.SharedExpertFfn, W($"{p}.shared_experts.down_proj.weight"), h);
            for (int i = 0; i < y.Length; i++) y[i] += sd[i];
        }
        return new MoeResult(y, ids, weights, scores, tied, mismatched);
    }

    /// <summary>
    /// How close two selection scores may be and still count as tied: ERNIE's fp32 router differs between
    /// implementations by summation order only (1e-5 of a probability); Qwen3's bf16 logits may round one
    /// step apart, about 2^-7 of the largest logit, which moves a probability by that fraction of itself.
    /// </summary>
    private static double TieMargin(MoeDescription m, ReadOnlySpan<double> logits)
    {
        if (m.RouterFp32) return 1e-5;
        double max = 0;
        foreach (var l in logits) max = Math.Max(max, Math.Abs(l));
        return Math.Max(max, 1) * Math.Pow(2, -7);
    }

    /// <summary>ERNIE's selection bias under either on-disk name; the oracle is handed names, not a layout.</summary>
    private float[] SelectionBias(int layer)
    {
        try
        {
            return W(TensorNames.SelectionBias(layer, ExpertLayout.PerExpert));
        }
        catch (CheckpointException)
        {
            return W(TensorNames.SelectionBias(layer, ExpertLayout.Fused));
        }
    }

    private double[] ExpertMlp(int layer, int expert, double[] x, int f)
    {
        int h = Model.Hidden;
        var (gate, up, down) = ExpertWeights(layer, expert, f);
        bool asStored = _activations is not null;
        x = In(TensorNames.Expert(layer, expert, "gate_proj"), x, 1, h);
        var a = new double[f];
        for (int r = 0; r < f; r++)
        {
            double g = 0, u = 0;
            for (int c = 0; c < h; c++)
            {
                g += x[c] * gate[(long)r * h + c];
                u += x[c] * up[(long)r * h + c];
            }
            if (asStored)
            {
                g = Bf16.Round((float)g);
                u = Bf16.Round((float)u);
            }
            a[r] = g / (1 + Math.Exp(-g)) * u;
            if (asStored) a[r] = Bf16.Round((float)a[r]);
        }
        a = In(TensorNames.Expert(layer, expert, "down_proj"), a, 1, f);
        var y = new double[h];
        for (int r = 0; r < h; r++)
        {
            double s = 0;
            for (int c = 0; c < f; c++) s += a[c] * down[(long)r * f + c];
            y[r] = s;
        }
        return y;
    }

    private readonly Dictionary<(int, int), (float[], float[], float[])> _experts = new();

    /// <summary>One expert's gate [F, H], up [F, H] and down [H, F], from either layout.</summary>
    private (float[] Gate, float[] Up, float[] Down) ExpertWeights(int layer, int expert, int f)
    {
        if (_experts.TryGetValue((layer, expert), out var got)) return got;
        int h = Model.Hidden;
        float[] gate, up, down;
        try
        {
            gate = W(TensorNames.Expert(layer, expert, "gate_proj"));
            up = W(TensorNames.Expert(layer, expert, "up_proj"));
            down = W(TensorNames.Expert(layer, expert, "down_proj"));
        }
        catch (CheckpointException)
        {
            var gu = W(TensorNames.FusedGateUp(layer));
            var d = W(TensorNames.FusedDown(layer));
            long slab = 2L * f * h;
            gate = gu.AsSpan((int)(expert * slab), f * h).ToArray();
            up = gu.AsSpan((int)(expert * slab + (long)f * h), f * h).ToArray();
            down = d.AsSpan(expert * h * f, h * f).ToArray();
        }
        return _experts[(layer, expert)] = (gate, up, down);
    }

    /// <summary>y = x · Wᵀ with W [out, in] row-major.</summary>
    public static double[] Linear(double[] x, int n, int inFeatures, float[] w, int outFeatures)
    {
        if (w.Length != (long)inFeatures * outFeatures)
            throw new ArgumentException($"weight has {w.Length} values, not {outFeatures} x {inFeatures}", nameof(w));
        var y = new double[(long)n * outFeatures];
        for (int r = 0; r < n; r++)
            for (int o = 0; o < outFeatures; o++)
            {
                double s = 0;
                long xi = (long)r * inFeatures, wi = (long)o * inFeatures;
                for (int c = 0; c < inFeatures; c++) s += x[xi + c] * w[wi + c];
                y[(long)r * outFeatures + o] = s;
            }
        return y;
    }

    /// <summary>RMSNorm of <paramref name="x"/> [n, hidden] with weight <paramref name="w"/> [hidden] and epsilon <paramref name="eps"/>: x / sqrt(mean(x²) + eps) · w, returned as [n, hidden].</summary>
    public static double[] RmsNorm(double[] x, int n, float[] w, double eps)
    {
        int h = w.Length;
        var y = new double[(long)n * h];
        for (int r = 0; r < n; r++)
        {
            double ss = 0;
            for (int c = 0; c < h; c++) ss += x[(long)r * h + c] * x[(long)r * h + c];
            double inv = 1 / Math.Sqrt(ss / h + eps);
            for (int c = 0; c < h; c++) y[(long)r * h + c] = x[(long)r * h + c] * inv * w[c];
        }
        return y;
    }

    private static double[] Softmax(ReadOnlySpan<double> logits)
    {
        double max = double.NegativeInfinity;
        foreach (var l in logits) max = Math.Max(max, l);
        var p = new double[logits.Length];
        double sum = 0;
        for (int i = 0; i < p.Length; i++) sum += p[i] = Math.Exp(logits[i] - max);
        for (int i = 0; i < p.Length; i++) p[i] /= sum;
        return p;
    }

    private static double[] ConcatColumns(int n, params (double[] Values, int Width)[] parts)
    {
        int total = parts.Sum(p => p.Width);
        var y = new double[(long)n * total];
        for (int r = 0; r < n; r++)
        {
            int at = 0;
            foreach (var (v, width) in parts)
            {
                Array.Copy(v, (long)r * width, y, (long)r * total + at, width);
                at += width;
            }
        }
        return y;
    }
}

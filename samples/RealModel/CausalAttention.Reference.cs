using GraphEngine.Kernels;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Samples.RealModel;

/// <summary>
/// The attention on the reference backend, the same steps and fp32 arithmetic as cuda/attention.cu, so CI runs the
/// sample without a GPU: q and k normed and rotated into the workspace, then per (token, head) the scores, their
/// softmax and the weighted sum of v in a fixed order.
/// </summary>
internal sealed unsafe class CausalAttentionReference : CausalAttention
{
    public CausalAttentionReference(Device device, AttentionConfig config, int maxTokens) : base(device, config, maxTokens) { }

    protected override void RunCore(ComputeStream stream, int n, Tensor qkv, Tensor output, QkNormWeights? norms)
    {
        var c = Config;
        int heads = c.Heads, kv = c.KvHeads, d = c.HeadDim, half = d / 2, group = heads / kv;
        int qkvWidth = (heads + 2 * kv) * d, qkWidth = (heads + kv) * d;
        bool interleaved = c.Pairing == RotaryPairing.Interleaved;
        float eps = (float)c.NormEps, scale = c.Scale;
        ushort* src = (ushort*)qkv.Ptr.Address;
        ushort* dst = (ushort*)output.Ptr.Address;
        float* qk = (float*)RotatedQk.Ptr.Address;
        float* cos = (float*)CosTable.Ptr.Address, sin = (float*)SinTable.Ptr.Address;
        float* qNorm = norms is null ? null : (float*)norms.Q.Ptr.Address;
        float* kNorm = norms is null ? null : (float*)norms.K.Ptr.Address;
        ((ReferenceStream)stream).Enqueue(() =>
        {
            Parallel.For(0, n * (heads + kv), item =>
            {
                int t = item / (heads + kv), head = item % (heads + kv);
                ushort* x = src + (long)t * qkvWidth + (long)head * d;
                float* y = qk + (long)t * qkWidth + (long)head * d;
                float invRms = 1f;
                float* w = head < heads ? qNorm : kNorm;
                if (w != null)
                {
                    float ss = 0f;
                    for (int i = 0; i < d; i++)
                    {
                        float v = Bf16.ToFloat(x[i]);
                        ss += v * v;
                    }
                    invRms = 1f / MathF.Sqrt(ss / d + eps);
                }
                for (int i = 0; i < half; i++)
                {
                    int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
                    float xa = Bf16.ToFloat(x[a]), xb = Bf16.ToFloat(x[b]);
                    if (w != null)
                    {
                        xa = xa * invRms * w[a];
                        xb = xb * invRms * w[b];
                    }
                    float co = cos[(long)t * half + i], si = sin[(long)t * half + i];
                    y[a] = xa * co - xb * si;
                    y[b] = xb * co + xa * si;
                }
            });
            Parallel.For(0, n * heads, item =>
            {
                int t = item / heads, h = item % heads, g = h / group;
                float* q = qk + (long)t * qkWidth + (long)h * d;
                var p = new float[t + 1];
                float max = float.NegativeInfinity;
                for (int j = 0; j <= t; j++)
                {
                    float* k = qk + (long)j * qkWidth + (long)(heads + g) * d;
                    float s = 0f;
                    for (int i = 0; i < d; i++) s += q[i] * k[i];
                    p[j] = s * scale;
                    max = MathF.Max(max, p[j]);
                }
                float sum = 0f;
                for (int j = 0; j <= t; j++) sum += p[j] = MathF.Exp(p[j] - max);
                float inv = 1f / sum;
                ushort* v = src + (long)(heads + kv) * d + (long)g * d;
                ushort* o = dst + (long)t * heads * d + (long)h * d;
                for (int i = 0; i < d; i++)
                {
                    float acc = 0f;
                    for (int j = 0; j <= t; j++) acc += p[j] * Bf16.ToFloat(v[(long)j * qkvWidth + i]);
                    o[i] = Bf16.FromFloat(acc * inv);
                }
            });
        });
    }
}

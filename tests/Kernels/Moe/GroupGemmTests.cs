using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;
using GraphEngine.Kernels.Random;

namespace GraphEngine.Tests.Kernels.Moe;

public class GroupGemmTests
{
    [Theory]
    [InlineData(ExpertWeightFormat.Int8PerChannel, "per-channel", 127)]
    [InlineData(ExpertWeightFormat.Int4PerChannel, "per-channel", 7)]
    [InlineData(ExpertWeightFormat.Int4Group, "g128", 7)]
    public void Quantizer_error_is_within_half_a_step(ExpertWeightFormat format, string groupText, int qmax)
    {
        var group = GroupSize.Parse(groupText);
        using var device = new ReferenceDevice();
        const int e = 2, n = 5, k = 256;
        using var sb = device.AllocateTensor(DType.BF16, new long[] { e, n, k }, out var src);
        RandomFill.Create(device).Uniform(device.DefaultStream, src, 4, 1f);
        var w = Make(device, format, group, e, n, k, out var owned);
        using var _ = owned;
        GroupGemm.Create(device).Quantize(device.DefaultStream, src, w);
        var original = src.DownloadFloats();
        var scales = w.Scales.ToArray<float>();
        var bytes = w.Weights.DownloadBytes();
        long per = w.Weights.DType.ByteCount((long)n * k);
        for (int ex = 0; ex < e; ex++)
        {
            var deq = ExpertWeightMath.Dequantize(format, DType.BF16, n, k, group, bytes.AsSpan((int)(ex * per), (int)per),
                scales.AsSpan(ex * n * w.Groups, n * w.Groups), default);
            for (int r = 0; r < n; r++)
                for (int i = 0; i < k; i++)
                {
                    float s = scales[(ex * n + r) * w.Groups + (group.IsPerChannel ? 0 : i / group.Size)];
                    Assert.InRange(MathF.Abs(deq[r * k + i] - original[(ex * n + r) * k + i]), 0f, s / 2 * 1.0001f);
                    Assert.True(s > 0 && s <= 1f / qmax * 1.0001f, $"scale {s} for max |w| <= 1 and qmax {qmax}");
                }
        }
    }

    [Theory]
    [InlineData(TokenLayout.PrefixSum, ExpertWeightFormat.Half, "per-channel")]
    [InlineData(TokenLayout.Padded, ExpertWeightFormat.Half, "per-channel")]
    [InlineData(TokenLayout.PrefixSum, ExpertWeightFormat.Int8PerChannel, "per-channel")]
    [InlineData(TokenLayout.Padded, ExpertWeightFormat.Int4Group, "g64")]
    public void Group_gemm_matches_float64_and_never_writes_rows_past_a_count(TokenLayout layout, ExpertWeightFormat format, string groupText)
    {
        var group = GroupSize.Parse(groupText);
        using var device = new ReferenceDevice();
        var stream = device.DefaultStream;
        const int e = 4, n = 37, k = 128, p = 6;
        int[] counts = { 3, 0, 6, 1 };   // expert 1 has no rows
        int total = counts.Sum();
        int rows = layout == TokenLayout.PrefixSum ? total : e * p;
        using var sb = device.AllocateTensor(DType.BF16, new long[] { e, n, k }, out var src);
        RandomFill.Create(device).Uniform(stream, src, 8, 0.5f);
        var w = Make(device, format, group, e, n, k, out var owned);
        using var _ = owned;
        var gg = GroupGemm.Create(device);
        gg.Quantize(stream, src, w);
        using var ab = device.AllocateTensor(DType.BF16, new long[] { rows, k }, out var a);
        using var cb = device.AllocateTensor(DType.BF16, new long[] { rows, n }, out var c);
        RandomFill.Create(device).Uniform(stream, a, 9, 1f);
        c.Poison(stream);
        int[] offsets = layout == TokenLayout.PrefixSum ? new[] { 0, 3, 3, 9, 10 } : counts;
        using var ob = device.AllocateTensor(DType.I32, new long[] { offsets.Length }, out var off);
        off.UploadInts(offsets);
        var problem = layout == TokenLayout.PrefixSum
            ? new GroupGemmProblem(layout, e, n, k, total, a, off, c)
            : new GroupGemmProblem(layout, e, n, k, p, a.Reshape(e, p, k), off, c.Reshape(e, p, n));
        gg.Run(stream, problem, w);

        var af = a.DownloadFloats();
        var cf = c.DownloadFloats();
        var bytes = w.Weights.DownloadBytes();
        var scales = w.Scales.IsEmpty ? Array.Empty<float>() : w.Scales.ToArray<float>();
        long per = w.Weights.DType.ByteCount((long)n * k);
        var expected = new List<double>();
        var actual = new List<float>();
        for (int ex = 0; ex < e; ex++)
        {
            var deq = ExpertWeightMath.Dequantize(format, DType.BF16, n, k, group, bytes.AsSpan((int)(ex * per), (int)per),
                scales.Length == 0 ? default : scales.AsSpan(ex * n * w.Groups, n * w.Groups), default);
            int begin = layout == TokenLayout.PrefixSum ? offsets[ex] : ex * p;
            for (int r = begin; r < begin + counts[ex]; r++)
                for (int j = 0; j < n; j++)
                {
                    double acc = 0;
                    for (int i = 0; i < k; i++) acc += (double)af[r * k + i] * deq[j * k + i];
                    expected.Add(acc);
                    actual.Add(cf[r * n + j]);
                }
            if (layout == TokenLayout.Padded)
                for (int r = begin + counts[ex]; r < begin + p; r++)
                    Assert.True(float.IsNaN(cf[r * n]), $"padded slot {r} of expert {ex} (count {counts[ex]}) was written");
        }
        Assert.True(ErrorMetrics.FirstNonFinite(actual.ToArray()) < 0, "every real row written");
        // bf16 output rounding (2^-9 relative) dominates; fp32 accumulation over K = 128 adds ~1e-6.
        Assert.InRange(ErrorMetrics.RelativeFrobenius(expected.ToArray(), actual.ToArray()), 0, 4e-3);
    }

    [Fact]
    public void Group_size_that_does_not_divide_K_is_named()
    {
        using var device = new ReferenceDevice();
        var ex = Assert.Throws<ArgumentException>(() =>
        {
            var w = Make(device, ExpertWeightFormat.Int4Group, GroupSize.Of(128), 1, 8, 192, out var owned);
            owned.Dispose();
        });
        Assert.Contains("128", ex.Message);
        Assert.Contains("192", ex.Message);
    }

    private static ExpertWeights Make(Device device, ExpertWeightFormat format, GroupSize group, int e, int n, int k, out IDisposable owned)
    {
        var list = new Composite();
        var wt = ExpertWeights.WeightType(format, DType.BF16);
        bool grouped = format is ExpertWeightFormat.Int4Group or ExpertWeightFormat.Int4ZeroPointGroup;
        int groups = grouped ? Math.Max(1, group.Groups(k)) : 1;
        list.Add(device.AllocateTensor(wt, new long[] { e, n, k }, out var w));
        Tensor s = default;
        if (format != ExpertWeightFormat.Half) list.Add(device.AllocateTensor(DType.F32, new long[] { e, n, groups }, out s));
        var weights = new ExpertWeights(format, w, s, default, group);
        try
        {
            weights.Validate(DType.BF16, e, n, k);
        }
        catch
        {
            list.Dispose();
            throw;
        }
        owned = list;
        return weights;
    }

    private sealed class Composite : List<IDisposable>, IDisposable
    {
        public void Dispose() { foreach (var d in this) d.Dispose(); }
    }
}

using GraphEngine.Kernels.Moe;

namespace GraphEngine.Tests.Kernels.Moe;

public class MoeRoutingTests
{
    [Fact]
    public void Ties_go_to_the_lower_expert_index()
    {
        Span<int> ids = stackalloc int[2];
        Span<float> w = stackalloc float[2];
        MoeRoutingHost.TopK(new float[] { 1f, 3f, 2f, 3f, 3f }, 2, renormalize: true, ids, w);
        Assert.Equal(new[] { 1, 3 }, ids.ToArray());
        Assert.Equal(0.5f, w[0], 6);   // equal logits, renormalized over two
        MoeRoutingHost.TopK(new float[] { 0f, 0f, 0f, 0f }, 2, renormalize: false, ids, w);
        Assert.Equal(new[] { 0, 1 }, ids.ToArray());
        Assert.Equal(0.25f, w[1], 6);  // plain softmax of four equal logits
    }

    [Fact]
    public void Assignment_is_stable_by_token_then_slot_in_both_layouts()
    {
        // tokens: (2, 0), (0, 2), (2, 1) -> expert 0 gets a1, a2; expert 1 a5; expert 2 a0, a3, a4.
        int[] ids = { 2, 0, 0, 2, 2, 1 };
        var p = MoeRoutingHost.Assign(ids, 3, 2, 3, TokenLayout.PrefixSum, 0);
        Assert.Equal(new[] { 2, 1, 3 }, p.Counts);
        Assert.Equal(new[] { 0, 2, 3, 6 }, p.Offsets);
        Assert.Equal(new[] { 1, 2, 5, 0, 3, 4 }, p.Permutation);
        Assert.Equal(new[] { 3, 0, 1, 4, 5, 2 }, p.Inverse);
        var q = MoeRoutingHost.Assign(ids, 3, 2, 3, TokenLayout.Padded, 3);
        Assert.Equal(new[] { 6, 0, 1, 7, 8, 3 }, q.Inverse);
        Assert.Equal(new[] { 1, 2, -1, 5, -1, -1, 0, 3, 4 }, q.Permutation);
    }

    [Theory]
    [InlineData(TokenLayout.PrefixSum)]
    [InlineData(TokenLayout.Padded)]
    public void Rows_past_the_token_count_never_reach_an_expert(TokenLayout layout)
    {
        using var device = new ReferenceDevice();
        var stream = device.DefaultStream;
        const int rows = 12, valid = 7, experts = 5, topK = 2;
        using var lb = device.AllocateTensor(DType.BF16, new long[] { rows, experts }, out var logits);
        using var nb = device.AllocateTensor(DType.I32, new long[] { 1 }, out var n);
        using var ib = device.AllocateTensor(DType.I32, new long[] { rows, topK }, out var ids);
        using var wb = device.AllocateTensor(DType.F32, new long[] { rows, topK }, out var weights);
        using var ob = device.AllocateTensor(DType.I32, new long[] { experts + 1 }, out var offsets);
        using var cb = device.AllocateTensor(DType.I32, new long[] { experts }, out var counts);
        using var pb = device.AllocateTensor(DType.I32, new long[] { experts * rows }, out var perm);
        using var vb = device.AllocateTensor(DType.I32, new long[] { rows * topK }, out var inverse);
        var values = new float[rows * experts];
        var rng = new System.Random(3);
        for (int i = 0; i < values.Length; i++) values[i] = i >= valid * experts ? float.NaN : (float)rng.NextDouble() * 4 - 2;
        logits.UploadFloats(values);
        n.UploadInts(new[] { valid });

        var routing = MoeRouting.Create(device);
        routing.TopKSoftmax(stream, logits, rows, n.Ptr, topK, true, ids, weights);
        routing.Assign(stream, ids, rows, n.Ptr, experts, layout, rows, offsets, counts, perm, inverse);

        var got = ids.DownloadInts();
        Assert.All(got.AsSpan(valid * topK).ToArray(), id => Assert.Equal(-1, id));
        Assert.Equal(valid * topK, counts.DownloadInts().Sum());
        Assert.Equal(valid * topK, offsets.DownloadInts()[experts]);
        Assert.All(inverse.DownloadInts().AsSpan(valid * topK).ToArray(), r => Assert.Equal(-1, r));
        var expected = MoeRoutingHost.Assign(got, valid, topK, experts, layout, rows);
        Assert.Equal(expected.Counts, counts.DownloadInts());
        Assert.Equal(expected.Inverse, inverse.DownloadInts().AsSpan(0, valid * topK).ToArray());
    }

    [Fact]
    public void Bad_arguments_name_the_value()
    {
        using var device = new ReferenceDevice();
        using var lb = device.AllocateTensor(DType.BF16, new long[] { 4, 3 }, out var logits);
        using var ib = device.AllocateTensor(DType.I32, new long[] { 4, 4 }, out var ids);
        using var wb = device.AllocateTensor(DType.F32, new long[] { 4, 4 }, out var weights);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            MoeRouting.Create(device).TopKSoftmax(device.DefaultStream, logits, 4, DevicePtr.Null, 4, true, ids, weights));
        Assert.Contains("4", e.Message);
        Assert.Contains("experts = 3", e.Message);
    }
}

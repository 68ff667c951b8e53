using GraphEngine.Models.Checkpoints;

namespace GraphEngine.Tests.Models.Checkpoints;

public class TensorUploaderTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Collects reports on the calling thread; Progress&lt;T&gt; would post them to the thread pool.</summary>
    private sealed class Recorder : IProgress<LoadProgress>
    {
        public List<LoadProgress> Reports { get; } = new();

        public void Report(LoadProgress value) => Reports.Add(value);
    }

    private CheckpointDirectory Checkpoint(out byte[] big, out byte[] small)
    {
        File.WriteAllText(_dir.File("config.json"), "{}");
        var w = new SafetensorsTestWriter();
        small = w.AddRandom("small", "U8", 5);
        big = w.AddRandom("big", "BF16", 2049, 1); // 4098 bytes: not a multiple of the staging size
        w.AddRandom("empty", "F32", 0);
        w.Write(_dir.File("model.safetensors"));
        return CheckpointDirectory.Open(_dir.Path);
    }

    [Fact]
    public void Chunks_through_a_small_staging_buffer_reassemble_exactly()
    {
        using var ckpt = Checkpoint(out var big, out var small);
        var uploader = new TensorUploader(stagingBytes: 1000);
        var dest = new byte[big.Length];
        Array.Fill(dest, (byte)0xA5);
        var offsets = new List<long>();
        var rec = new Recorder();

        uploader.Upload(ckpt.Get("big"), (chunk, offset) =>
        {
            Assert.InRange(chunk.Length, 1, uploader.StagingBytes);
            offsets.Add(offset);
            chunk.CopyTo(dest.AsSpan((int)offset));
        }, rec);

        Assert.Equal(big, dest);
        Assert.Equal(new long[] { 0, 1000, 2000, 3000, 4000 }, offsets);
        Assert.Equal(new long[] { 1000, 2000, 3000, 4000, 4098 }, rec.Reports.Select(r => r.TensorBytesDone));
        Assert.All(rec.Reports, r => Assert.Equal(4098L, r.TensorBytes));
        Assert.Equal("big", rec.Reports[^1].Tensor);
        Assert.True(rec.Reports[^1].Elapsed > TimeSpan.Zero);
        Assert.True(rec.Reports[^1].GBPerSecond > 0);

        // The totals carry over to the next tensor, so a load's rate covers all of it.
        var got = new byte[small.Length];
        uploader.Upload(ckpt.Get("small"), (chunk, offset) => chunk.CopyTo(got.AsSpan((int)offset)), rec);
        Assert.Equal(small, got);
        Assert.Equal(4098L + 5, rec.Reports[^1].TotalBytesDone);
        Assert.Equal(4098L + 5, uploader.TotalBytes);
    }

    [Fact]
    public void Cancellation_stops_before_the_next_chunk()
    {
        using var ckpt = Checkpoint(out _, out _);
        var uploader = new TensorUploader(stagingBytes: 512);
        using var cts = new CancellationTokenSource();
        int calls = 0;
        Assert.ThrowsAny<OperationCanceledException>(() => uploader.Upload(ckpt.Get("big"), (_, _) =>
        {
            if (++calls == 2) cts.Cancel();
        }, cancellationToken: cts.Token));
        Assert.Equal(2, calls);
        Assert.Equal(1024L, uploader.TotalBytes);
    }

    [Fact]
    public void A_cancelled_token_moves_nothing()
    {
        using var ckpt = Checkpoint(out _, out _);
        var uploader = new TensorUploader(stagingBytes: 512);
        int calls = 0;
        Assert.ThrowsAny<OperationCanceledException>(() =>
            uploader.Upload(ckpt.Get("big"), (_, _) => calls++, cancellationToken: new CancellationToken(canceled: true)));
        Assert.Equal(0, calls);
    }

    [Fact]
    public void Empty_tensor_reports_once_and_calls_no_sink()
    {
        using var ckpt = Checkpoint(out _, out _);
        var uploader = new TensorUploader();
        Assert.Equal(TensorUploader.DefaultStagingBytes, uploader.StagingBytes);
        var rec = new Recorder();
        int calls = 0;
        uploader.Upload(ckpt.Get("empty"), (_, _) => calls++, rec);
        Assert.Equal(0, calls);
        var only = Assert.Single(rec.Reports);
        Assert.Equal(0L, only.TensorBytes);
    }

    [Fact]
    public void Every_report_carries_the_bytes_the_whole_load_will_move()
    {
        using var ckpt = Checkpoint(out _, out _);
        var uploader = new TensorUploader(stagingBytes: 512) { ExpectedBytes = 123_456 };
        var rec = new Recorder();
        uploader.Upload(ckpt.Get("empty"), (_, _) => { }, rec);
        Assert.All(rec.Reports, r => Assert.Equal(123_456, r.LoadBytes));
        Assert.Equal(0, new TensorUploader().ExpectedBytes);
    }

    [Fact]
    public void Staging_size_must_be_positive() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new TensorUploader(0));
}

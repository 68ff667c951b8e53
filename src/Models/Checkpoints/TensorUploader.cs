using System.Diagnostics;

namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// Moves tensor bytes from a checkpoint to a destination through one staging buffer of fixed size:
/// each chunk is read from the file into the buffer with a positional read, then handed to the sink
/// with its byte offset within the tensor. The buffer is the only host memory an upload holds, whatever
/// the checkpoint's size, because the file is read rather than mapped (mapped pages would count towards
/// the resident set until the OS chose to drop them). The buffer is allocated pinned so a sink can pass
/// its address to a host-to-device copy directly. Not thread-safe: one buffer, one upload at a time.
/// </summary>
public sealed class TensorUploader
{
    /// <summary>Large enough that per-chunk costs (a read call, a copy launch) vanish against 64 MiB of bandwidth.</summary>
    public const int DefaultStagingBytes = 64 << 20;

    private readonly byte[] _staging;
    private readonly Stopwatch _clock = new();
    private long _totalBytes;

    /// <summary>An uploader with a pinned staging buffer of <paramref name="stagingBytes"/> bytes (at least 1).</summary>
    public TensorUploader(int stagingBytes = DefaultStagingBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stagingBytes, 1);
        _staging = GC.AllocateUninitializedArray<byte>(stagingBytes, pinned: true);
    }

    /// <summary>Size of the staging buffer: the most bytes one chunk carries.</summary>
    public int StagingBytes => _staging.Length;

    /// <summary>Bytes the caller means to upload in all (0: not said), reported with every progress value.</summary>
    public long ExpectedBytes { get; init; }

    /// <summary>Bytes handed to sinks so far, over every upload.</summary>
    public long TotalBytes => _totalBytes;

    /// <summary>Time spent inside <see cref="Upload"/>, over every upload.</summary>
    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>
    /// Hands <paramref name="tensor"/>'s bytes to <paramref name="sink"/> in order, as (chunk, offset within
    /// the tensor) with chunks of at most <see cref="StagingBytes"/>. The chunk span is the staging buffer
    /// and is overwritten by the next chunk: a sink must finish with it (or copy it) before returning.
    /// Cancellation is checked before every chunk.
    /// </summary>
    public void Upload(CheckpointTensor tensor, Action<ReadOnlySpan<byte>, long> sink,
        IProgress<LoadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        ArgumentNullException.ThrowIfNull(sink);
        long length = tensor.ByteLength;
        _clock.Start();
        try
        {
            long done = 0;
            while (done < length)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int n = (int)Math.Min(_staging.Length, length - done);
                var chunk = _staging.AsSpan(0, n);
                tensor.Read(done, chunk);
                sink(chunk, done);
                done += n;
                _totalBytes += n;
                progress?.Report(new LoadProgress(tensor.Name, done, length, _totalBytes, _clock.Elapsed, ExpectedBytes));
            }
            if (length == 0)
                progress?.Report(new LoadProgress(tensor.Name, 0, 0, _totalBytes, _clock.Elapsed, ExpectedBytes));
        }
        finally
        {
            _clock.Stop();
        }
    }
}

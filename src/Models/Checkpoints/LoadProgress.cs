namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// Where an upload stands after one chunk. <see cref="TensorBytesDone"/> counts the current tensor;
/// <see cref="TotalBytesDone"/> and <see cref="Elapsed"/> count everything the uploader has moved since
/// it was made, so the rate is the load's, not one chunk's. <see cref="LoadBytes"/> is what the whole load will
/// move (0 when the uploader was not told), for a progress bar.
/// </summary>
public readonly record struct LoadProgress(
    string Tensor,
    long TensorBytesDone,
    long TensorBytes,
    long TotalBytesDone,
    TimeSpan Elapsed,
    long LoadBytes = 0)
{
    /// <summary>Decimal gigabytes per second over <see cref="Elapsed"/>; 0 before any time has passed.</summary>
    public double GBPerSecond => Elapsed > TimeSpan.Zero ? TotalBytesDone / Elapsed.TotalSeconds / 1e9 : 0;

    /// <summary>Bytes done of the tensor and in total, elapsed time and rate, on one line.</summary>
    public override string ToString() =>
        $"{Tensor}: {TensorBytesDone}/{TensorBytes} B, {TotalBytesDone} B total in {Elapsed.TotalSeconds:F2} s ({GBPerSecond:F2} GB/s)";
}

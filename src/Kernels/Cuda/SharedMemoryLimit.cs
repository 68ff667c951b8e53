namespace GraphEngine.Kernels.Cuda;

/// <summary>
/// A kernel's dynamic shared memory limit (CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES), only ever raised. The
/// attribute is a ceiling for every later launch of the function, below 48 KiB too, and plans of different shapes share
/// one CUfunction: two plans raising it at once, the smaller one's write landing last, would leave the larger plan's
/// launches refused with CUDA_ERROR_INVALID_VALUE (seen on the H200 with eight check cases at once, a wo_gemv launch of
/// 13584 B). Raises are serialized and the value read is always one the driver holds or exceeds.
/// </summary>
internal sealed class SharedMemoryLimit
{
    private readonly object _gate = new();
    private int _bytes;

    /// <summary>The largest limit applied so far (0 before the first).</summary>
    public int Bytes => Volatile.Read(ref _bytes);

    /// <summary>
    /// Applies <paramref name="bytes"/> through <paramref name="apply"/> unless a limit at least as large is already
    /// held. <paramref name="apply"/> runs under the lock, so applications reach the driver in increasing order; when it
    /// throws, the held limit stays what it was.
    /// </summary>
    public void Raise<TState>(int bytes, TState state, Action<TState, int> apply)
    {
        if (bytes <= Volatile.Read(ref _bytes)) return;
        lock (_gate)
        {
            if (bytes <= _bytes) return;
            apply(state, bytes);
            Volatile.Write(ref _bytes, bytes);
        }
    }
}

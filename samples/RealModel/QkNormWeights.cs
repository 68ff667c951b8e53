using GraphEngine.Kernels;

namespace GraphEngine.Samples.RealModel;

/// <summary>One decoder layer's q_norm and k_norm weights ([head_dim] each, fp32 on the device).</summary>
public sealed class QkNormWeights : IDisposable
{
    private readonly DeviceBuffer _q, _k;

    /// <summary>Uploads <paramref name="q"/> and <paramref name="k"/> to <paramref name="device"/>.</summary>
    public QkNormWeights(Device device, ReadOnlySpan<float> q, ReadOnlySpan<float> k)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (q.Length != k.Length) throw new ArgumentException($"q_norm has {q.Length} weights, k_norm {k.Length}", nameof(k));
        _q = device.AllocateTensor(DType.F32, new long[] { q.Length }, out var qt, "q_norm");
        try
        {
            _k = device.AllocateTensor(DType.F32, new long[] { k.Length }, out var kt, "k_norm");
            Q = qt;
            K = kt;
        }
        catch
        {
            _q.Dispose();
            throw;
        }
        Q.CopyFrom(q);
        K.CopyFrom(k);
    }

    /// <summary>q_norm's weight [head_dim].</summary>
    public Tensor Q { get; }
    /// <summary>k_norm's weight [head_dim].</summary>
    public Tensor K { get; }

    /// <summary>Frees both.</summary>
    public void Dispose()
    {
        _k.Dispose();
        _q.Dispose();
    }
}

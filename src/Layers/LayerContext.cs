using GraphEngine.Kernels;

namespace GraphEngine.Layers;

/// <summary>
/// What every layer is built with. Activations live in engine-owned buffers rented from
/// <see cref="Pool"/> and sized for <see cref="MaxTokens"/> rows; <see cref="TokenCount"/> is the
/// device-side int32 holding the valid row count of the current step (contract 3 of docs/design.md).
/// Every value is checked when set, through the constructor and through <c>with</c> alike: a layer's kernels
/// read the token count through that address on every forward, so address 0 there is a native crash.
/// </summary>
public sealed record LayerContext
{
    private readonly Device _device = null!;
    private readonly DevicePool _pool = null!;
    private readonly int _maxTokens;
    private readonly DevicePtr _tokenCount;

    /// <summary>A context on <paramref name="device"/> renting from <paramref name="pool"/> (of the same device), for
    /// <paramref name="maxTokens"/> rows, with the device int32 token count at <paramref name="tokenCount"/>.</summary>
    public LayerContext(Device device, DevicePool pool, int maxTokens, DevicePtr tokenCount)
    {
        Device = device;
        Pool = pool;
        MaxTokens = maxTokens;
        TokenCount = tokenCount;
        RequirePoolOnDevice(pool, device);
    }

    /// <summary>The device layers run on.</summary>
    public Device Device
    {
        get => _device;
        init => _device = value ?? throw new ArgumentNullException(nameof(Device), "a layer context needs a device");
    }

    /// <summary>The pool layers rent activations and workspace from.</summary>
    public DevicePool Pool
    {
        get => _pool;
        init => _pool = value ?? throw new ArgumentNullException(nameof(Pool), "a layer context needs a pool");
    }

    /// <summary>Rows of every activation: the largest padded token count a forward takes.</summary>
    public int MaxTokens
    {
        get => _maxTokens;
        init => _maxTokens = value >= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxTokens), value, "a layer context's MaxTokens must be >= 1");
    }

    /// <summary>Address of the device int32 that holds the step's valid token count.</summary>
    public DevicePtr TokenCount
    {
        get => _tokenCount;
        init => _tokenCount = !value.IsNull
            ? value
            : throw new ArgumentException("a layer context's TokenCount must be the address of a device int32, not 0", nameof(TokenCount));
    }

    /// <summary>The stream weights are uploaded and quantized on at construction: the device's default stream.</summary>
    public ComputeStream LoadStream => Device.DefaultStream;

    /// <summary>Throws <see cref="ArgumentException"/> when <paramref name="pool"/> reserves on another device than <paramref name="device"/>.</summary>
    internal static void RequirePoolOnDevice(DevicePool pool, Device device)
    {
        if (!ReferenceEquals(pool.Device, device))
            throw new ArgumentException($"a layer context's pool reserves on another device ({pool.Device.Info.Name}) than its own ({device.Info.Name})", nameof(Pool));
    }
}

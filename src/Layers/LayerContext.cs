using GraphEngine.Kernels;

namespace GraphEngine.Layers;

/// <summary>
/// What every layer is built with. Activations live in engine-owned buffers rented from
/// <see cref="Pool"/> and sized for <see cref="MaxTokens"/> rows; <see cref="TokenCount"/> is the
/// device-side int32 holding the valid row count of the current step (contract 3 of docs/design.md).
/// </summary>
public sealed record LayerContext(Device Device, DevicePool Pool, int MaxTokens, DevicePtr TokenCount)
{
    /// <summary>The stream weights are uploaded and quantized on at construction: the device's default stream.</summary>
    public ComputeStream LoadStream => Device.DefaultStream;
}

namespace GraphEngine.Kernels;

/// <summary>Which backend <see cref="Device.Open"/> should pick.</summary>
public enum BackendPreference
{
    /// <summary>CUDA when a usable GPU is present, else the reference backend.</summary>
    Auto,
    /// <summary>CUDA only; no usable GPU is an error.</summary>
    Cuda,
    /// <summary>The managed CPU backend.</summary>
    Reference,
}

namespace GraphEngine.Kernels;

/// <summary>Which implementation a <see cref="Device"/> is.</summary>
public enum BackendKind
{
    /// <summary>A GPU through the CUDA driver, NVRTC and cuBLASLt.</summary>
    Cuda,
    /// <summary>The managed CPU backend.</summary>
    Reference,
}

namespace GraphEngine.Kernels.Cuda;

/// <summary>A -D define baked into an NVRTC compile.</summary>
public readonly record struct KernelDefine(string Name, string Value)
{
    /// <summary>The NVRTC option: -DName=Value.</summary>
    public override string ToString() => $"-D{Name}={Value}";
}

namespace GraphEngine.Kernels.Cuda;

/// <summary>A CUDA grid or block size.</summary>
/// <param name="X">Extent along x.</param>
/// <param name="Y">Extent along y.</param>
/// <param name="Z">Extent along z.</param>
public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1);

namespace GraphEngine.Kernels.Cuda;

public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1);

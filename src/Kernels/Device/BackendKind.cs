namespace GraphEngine.Kernels;

public enum BackendKind { Cuda, Reference }

using Microsoft.Extensions.Logging;
using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels;

public enum BackendKind { Cuda, Reference }

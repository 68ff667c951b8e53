using Microsoft.Extensions.Logging;
using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Reference;

namespace GraphEngine.Kernels;

/// <summary>Which backend <see cref="Device.Open"/> should pick.</summary>
public enum BackendPreference { Auto, Cuda, Reference }

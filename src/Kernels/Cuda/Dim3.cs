using GraphEngine.Kernels.Gemm;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1);

using GraphEngine.Kernels.Gemm;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using static GraphEngine.Kernels.Interop;

namespace GraphEngine.Kernels.Cuda;

/// <summary>A -D define baked into an NVRTC compile.</summary>
public readonly record struct KernelDefine(string Name, string Value)
{
    public override string ToString() => $"-D{Name}={Value}";
}

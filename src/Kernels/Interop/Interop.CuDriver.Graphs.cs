using System.Runtime.InteropServices;

namespace GraphEngine.Kernels;

internal static partial class Interop
{
    internal static unsafe partial class CuDriver
    {
        /// <summary>CUgraphExecUpdateResultInfo: result, then the nodes that made the update fail.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct CUgraphExecUpdateResultInfo
        {
            public int Result;
            public IntPtr ErrorNode;
            public IntPtr ErrorFromNode;
        }

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuGraphInstantiateWithFlags")]
        internal static partial int cuGraphInstantiateWithFlags(IntPtr* exec, IntPtr graph, ulong flags);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuGraphExecUpdate_v2")]
        internal static partial int cuGraphExecUpdate(IntPtr exec, IntPtr graph, CUgraphExecUpdateResultInfo* info);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuGraphLaunch")]
        internal static partial int cuGraphLaunch(IntPtr exec, IntPtr stream);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuGraphGetNodes")]
        internal static partial int cuGraphGetNodes(IntPtr graph, IntPtr* nodes, nuint* count);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuGraphDestroy")]
        internal static partial int cuGraphDestroy(IntPtr graph);

        [LibraryImport(Libraries.CuDriver, EntryPoint = "cuGraphExecDestroy")]
        internal static partial int cuGraphExecDestroy(IntPtr exec);
    }
}

using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace GraphEngine.Kernels;

/// <summary>
/// Native signatures of the CUDA driver, NVRTC and cuBLASLt, one nested class per library and one
/// file per API group (dotnet/runtime's Interop layout). Raw imports return the status and never throw;
/// callers check it with <see cref="Cuda.CudaException.ThrowIfFailed"/> and friends.
/// </summary>
internal static partial class Interop
{
    /// <summary>Logical library names used in [LibraryImport]; the resolver maps them to real files once.</summary>
    internal static class Libraries
    {
        internal const string CuDriver = "cuda";
        internal const string Nvrtc = "nvrtc";
        internal const string CublasLt = "cublasLt";
        internal const string Cupti = "cupti";

        private static readonly object s_lock = new();
        private static readonly Dictionary<string, IntPtr> s_loaded = new();
        private static readonly Dictionary<string, DeviceUnavailableException> s_failed = new();

        /// <summary>File names tried for each logical library, newest first.</summary>
        internal static IReadOnlyList<string> CandidatesFor(string library) => library switch
        {
            CuDriver => new[] { "libcuda.so.1", "libcuda.so" },
            Nvrtc => WithToolkitDirs("libnvrtc.so.13", "libnvrtc.so.12"),
            CublasLt => WithToolkitDirs("libcublasLt.so.13", "libcublasLt.so.12"),
            Cupti => WithToolkitDirs(["extras/CUPTI/lib64"], "libcupti.so.13", "libcupti.so.12"),
            _ => new[] { library },
        };

        // The toolkit's libraries are often not on the loader path; look where CUDA installs them too.
        private static string[] WithToolkitDirs(params string[] names) => WithToolkitDirs([], names);

        // CUPTI ships outside lib64 in some toolkits (extras/CUPTI/lib64), hence the extra subdirectories.
        private static string[] WithToolkitDirs(string[] extraSubdirs, params string[] names)
        {
            var dirs = new List<string>();
            var roots = new List<string>();
            foreach (var env in new[] { "CUDA_HOME", "CUDA_PATH" })
                if (Environment.GetEnvironmentVariable(env) is { Length: > 0 } root)
                    roots.Add(root);
            roots.Add("/usr/local/cuda");
            foreach (var root in roots)
            {
                dirs.Add(Path.Combine(root, "lib64"));
                if (root == "/usr/local/cuda") dirs.Add("/usr/local/cuda/targets/x86_64-linux/lib");
                foreach (var sub in extraSubdirs) dirs.Add(Path.Combine(root, sub));
            }
            var result = new List<string>();
            foreach (var n in names)
            {
                result.Add(n);
                foreach (var d in dirs) result.Add(Path.Combine(d, n));
            }
            return result.ToArray();
        }

        /// <summary>
        /// Loads <paramref name="library"/> (once) or throws <see cref="DeviceUnavailableException"/> naming
        /// the library and every path tried.
        /// </summary>
        internal static IntPtr Load(string library)
        {
            lock (s_lock)
            {
                if (s_loaded.TryGetValue(library, out var h)) return h;
                if (s_failed.TryGetValue(library, out var failure)) throw failure;
                var tried = CandidatesFor(library);
                foreach (var candidate in tried)
                {
                    if (NativeLibrary.TryLoad(candidate, out h))
                    {
                        s_loaded[library] = h;
                        return h;
                    }
                }
                var e = new DeviceUnavailableException(
                    $"native library '{library}' could not be loaded; tried: {string.Join(", ", tried)}");
                s_failed[library] = e;
                throw e;
            }
        }

        /// <summary>True when <paramref name="library"/> loads; <paramref name="reason"/> says why not.</summary>
        internal static bool TryLoad(string library, out string reason)
        {
            try
            {
                Load(library);
                reason = "";
                return true;
            }
            catch (DeviceUnavailableException e)
            {
                reason = e.Message;
                return false;
            }
        }

#pragma warning disable CA2255 // the resolver must be in place before the first import binds, whoever calls first
        [ModuleInitializer]
        internal static void RegisterResolver() =>
            NativeLibrary.SetDllImportResolver(typeof(Libraries).Assembly, Resolve);
#pragma warning restore CA2255

        private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path) =>
            name is CuDriver or Nvrtc or CublasLt or Cupti ? Load(name) : IntPtr.Zero;
    }
}

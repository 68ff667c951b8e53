using System.Runtime.InteropServices;

namespace GraphEngine.Kernels;

internal static partial class Interop
{
    /// <summary>The few POSIX calls .NET does not expose: opening without blocking and asking whether a descriptor seeks.</summary>
    internal static partial class Libc
    {
        private const string Library = "libc";

        internal const int O_RDONLY = 0;
        internal const int O_NONBLOCK = 0x800;
        internal const int O_CLOEXEC = 0x80000;
        internal const int F_SETFL = 4;
        internal const int SEEK_END = 2;

        [LibraryImport(Library, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int open(string path, int flags);

        [LibraryImport(Library, EntryPoint = "fcntl", SetLastError = true)]
        internal static partial int fcntl(int fd, int cmd, int arg);

        [LibraryImport(Library, EntryPoint = "lseek", SetLastError = true)]
        internal static partial long lseek(int fd, long offset, int whence);
    }
}

using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace GraphEngine.Kernels;

/// <summary>
/// Opening and reading a file the user named (a configuration, a checkpoint's JSON or safetensors, a report to
/// re-render) without the ways a path can hang or exhaust the process: open(2) never waits on a FIFO that has no
/// writer, reads stop at a cap (so /dev/zero is refused instead of read until memory runs out), text must be UTF-8,
/// and a caller that reads at offsets can ask first whether the file seeks at all. Failures are
/// <see cref="IOException"/>s (an <see cref="InputFileException"/> for the checks made here) whose message says what
/// is wrong with the file; callers put the file and where it came from in front.
/// </summary>
public static class InputFile
{
    /// <summary>
    /// Opens <paramref name="path"/> for reading. On Linux the open itself is non-blocking (a FIFO with no writer
    /// would otherwise wait there for ever) and the flag is cleared afterwards, so reads wait for data as on a pipe.
    /// </summary>
    public static SafeFileHandle OpenRead(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!OperatingSystem.IsLinux())
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        int fd = Interop.Libc.open(path, Interop.Libc.O_RDONLY | Interop.Libc.O_NONBLOCK | Interop.Libc.O_CLOEXEC);
        if (fd < 0) throw LastError();
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (Interop.Libc.fcntl(fd, Interop.Libc.F_SETFL, Interop.Libc.O_RDONLY) < 0)
        {
            var e = LastError();
            handle.Dispose();
            throw e;
        }
        return handle;
    }

    /// <summary>Whether <paramref name="handle"/> can be read at offsets: false for FIFOs, pipes and sockets, which have no length.</summary>
    public static bool IsSeekable(SafeFileHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        if (!OperatingSystem.IsLinux()) return true;
        return Interop.Libc.lseek((int)handle.DangerousGetHandle(), 0, Interop.Libc.SEEK_END) >= 0;
    }

    /// <summary>Every byte of <paramref name="path"/>, read once; more than <paramref name="maxBytes"/> is an <see cref="InputFileException"/>.</summary>
    public static byte[] ReadAllBytes(string path, int maxBytes)
    {
        using var handle = OpenRead(path);
        using var stream = new FileStream(handle, FileAccess.Read, 1);
        if (stream.CanSeek && stream.Length > maxBytes) throw TooLarge(maxBytes);
        var buffer = new MemoryStream();
        var chunk = new byte[64 << 10];
        int n;
        while ((n = stream.Read(chunk, 0, chunk.Length)) > 0)
        {
            if (buffer.Length + n > maxBytes) throw TooLarge(maxBytes);
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    /// <summary><see cref="ReadAllBytes"/> decoded as strict UTF-8 (a leading byte-order mark is dropped, as editors write one).</summary>
    public static string ReadAllText(string path, int maxBytes)
    {
        var bytes = ReadAllBytes(path, maxBytes);
        ReadOnlySpan<byte> text = bytes;
        if (text.StartsWith(Utf8Bom)) text = text[3..];
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(text);
        }
        catch (DecoderFallbackException e)
        {
            throw new InputFileException(InputFileProblem.NotUtf8, "is not UTF-8 text", e);
        }
    }

    private static ReadOnlySpan<byte> Utf8Bom => new byte[] { 0xEF, 0xBB, 0xBF };

    private static InputFileException TooLarge(int maxBytes) =>
        new(InputFileProblem.TooLarge, $"is larger than {maxBytes >> 20} MiB");

    private static IOException LastError()
    {
        int errno = Marshal.GetLastPInvokeError();
        string message = Marshal.GetPInvokeErrorMessage(errno);
        // ENOENT and EACCES keep the types .NET's own File calls throw, so callers' catches treat both alike.
        return errno switch
        {
            2 => new FileNotFoundException(message),
            13 => new IOException(message, new UnauthorizedAccessException(message)),
            _ => new IOException(message),
        };
    }
}

/// <summary>What <see cref="InputFile"/> found wrong with a file that opened.</summary>
public enum InputFileProblem
{
    /// <summary>More bytes than the caller's cap (or a device that never ends).</summary>
    TooLarge,
    /// <summary>Text that is not UTF-8.</summary>
    NotUtf8,
}

/// <summary>A file that opened but cannot be used as read: <see cref="Problem"/> says which check it failed.</summary>
public sealed class InputFileException : IOException
{
    /// <summary>A file that failed <paramref name="problem"/>, described by <paramref name="message"/> ("is larger than 16 MiB").</summary>
    public InputFileException(InputFileProblem problem, string message, Exception? inner = null) : base(message, inner) => Problem = problem;

    /// <summary>The check the file failed.</summary>
    public InputFileProblem Problem { get; }
}

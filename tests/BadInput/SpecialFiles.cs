using System.Runtime.InteropServices;
using GraphEngine.Tests.Cli;

namespace GraphEngine.Tests.BadInput;

/// <summary>Files that are not plain files (FIFOs, devices) and a CLI run that must end, for the hang cases.</summary>
internal static class SpecialFiles
{
    [DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int MkFifoNative([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);

    /// <summary>Makes a FIFO at <paramref name="path"/> (no writer will ever open it); false off Linux.</summary>
    public static bool MkFifo(string path)
    {
        if (!OperatingSystem.IsLinux()) return false;
        if (File.Exists(path)) File.Delete(path);
        Assert.Equal(0, MkFifoNative(path, 0x180));
        return true;
    }

    /// <summary>Replaces <paramref name="path"/> with a link to /dev/zero, a file that never ends; false where there is none.</summary>
    public static bool LinkToDevZero(string path)
    {
        if (!File.Exists("/dev/zero")) return false;
        if (File.Exists(path)) File.Delete(path);
        File.CreateSymbolicLink(path, "/dev/zero");
        return true;
    }

    /// <summary>The CLI in-process with an empty environment, failed (not hung) when it runs past 30 s.</summary>
    public static CliHarness.Result RunWithin(params string[] args)
    {
        var run = Task.Run(() => BadInputCli.Run(args));
        Assert.True(run.Wait(TimeSpan.FromSeconds(30)), $"graphengine {string.Join(' ', args)} hung");
        return run.Result;
    }
}

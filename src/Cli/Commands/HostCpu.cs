using System.Diagnostics;
using System.Globalization;

namespace GraphEngine.Cli.Commands;

/// <summary>
/// The process's CPU time over a stretch of wall time, as "host CPU 412 s, 5.1 of 16 cores": check's float64 oracles and
/// host quantizers are most of its wall time, and this says whether running more cases at once could shorten it (cores
/// idle) or not (cores busy).
/// </summary>
internal sealed class HostCpu
{
    private readonly TimeSpan _start;
    private TimeSpan _lapCpu;
    private readonly Stopwatch _lapWall = Stopwatch.StartNew();

    private HostCpu()
    {
        _start = _lapCpu = Process.GetCurrentProcess().TotalProcessorTime;
    }

    public static HostCpu Start() => new();

    /// <summary>CPU seconds since <see cref="Start"/>.</summary>
    public double TotalSeconds => (Process.GetCurrentProcess().TotalProcessorTime - _start).TotalSeconds;

    /// <summary>CPU time and mean busy cores since the last lap (or the start); starts the next lap.</summary>
    public string Lap()
    {
        var now = Process.GetCurrentProcess().TotalProcessorTime;
        double cpu = (now - _lapCpu).TotalSeconds, wall = _lapWall.Elapsed.TotalSeconds;
        _lapCpu = now;
        _lapWall.Restart();
        return Text(cpu, wall, Environment.ProcessorCount);
    }

    /// <summary>"host CPU C s, B of N cores" for C CPU seconds over W wall seconds on N cores.</summary>
    internal static string Text(double cpuSeconds, double wallSeconds, int cores) =>
        string.Create(CultureInfo.InvariantCulture,
            $"host CPU {cpuSeconds:F0} s, {(wallSeconds > 0 ? cpuSeconds / wallSeconds : 0):F1} of {cores} cores");
}

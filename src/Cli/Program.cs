// TEMPORARY runner for the CUDA backend's first GPU runs; the CLI work replaces it with run | list | check | bench.
//   graphengine check [--filter X] [--tier ci|full] [--backend auto|cuda|reference]
using System.Diagnostics;
using GraphEngine.Graph.Conformance;
using GraphEngine.Kernels;
using Microsoft.Extensions.Logging;

if (args.Length == 0 || args[0] != "check")
{
    Console.Error.WriteLine("usage: graphengine check [--filter X] [--tier ci|full] [--backend auto|cuda|reference]");
    return 2;
}
string? filter = null;
var tier = CaseTier.Full;
var backend = BackendPreference.Auto;
for (int i = 1; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--filter": filter = Next(); break;
        case "--tier": tier = Enum.Parse<CaseTier>(Next(), ignoreCase: true); break;
        case "--backend": backend = Enum.Parse<BackendPreference>(Next(), ignoreCase: true); break;
        default: Console.Error.WriteLine($"unknown argument '{args[i]}'"); return 2;
    }
}

using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information));
var logger = loggerFactory.CreateLogger("graphengine");
using var device = Device.Open(backend, logger);
Console.WriteLine($"device: {device.Info}");
int passed = 0, failed = 0;
var total = Stopwatch.StartNew();
foreach (var c in ConformanceSuite.Select(filter, tier))
{
    var sw = Stopwatch.StartNew();
    var result = ConformanceSuite.RunOne(c, device);
    if (result.Passed)
    {
        passed++;
        Console.WriteLine($"  ok   {c.Name} ({sw.Elapsed.TotalMilliseconds:0} ms): {Short(result.Detail)}");
    }
    else
    {
        failed++;
        Console.WriteLine($"  FAIL {c.Name} ({sw.Elapsed.TotalMilliseconds:0} ms): {result.Detail}");
    }
}
Console.WriteLine($"{passed} passed, {failed} failed ({total.Elapsed.TotalSeconds:0.0} s)");
return failed == 0 ? 0 : 1;

static string Short(string s) => s.Length <= 160 ? s : s[..157] + "...";

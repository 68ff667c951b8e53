using GraphEngine.Graph;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Layers;
using GraphEngine.Models;
using GraphEngine.Samples.Embedding;
using Microsoft.Extensions.Logging;

// How an application embeds GraphEngine: it owns the loop, runs its own eager step (attention, here a
// causal stand-in) between layers, and lets the engine replay a captured graph for every other layer
// through engine.Forward(layer, n). Graph sizes and granularity come from graphengine.json beside the
// program, overridable by FD_BLOCK_WISE_CUDA_GRAPH_SIZES, GRAPHENGINE__... variables or switches such as
// --graph-sizes=1,8,64.
using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information));
var logger = loggerFactory.CreateLogger("sample");

var preset = ModelPresets.Tiny;
var config = EngineConfiguration.Build(Path.Combine(AppContext.BaseDirectory, EngineConfiguration.DefaultFileName), args);
var options = EngineConfiguration.BindOptions(config, preset.MaxTokens);

using var device = Device.Open(BackendPreference.Auto, logger);
Console.WriteLine($"device: {device.Info}");
Console.WriteLine($"graphs: {options}");

using var engine = new PrefillEngine(device, options, preset.MaxTokens, logger);
var model = ModelFactory.Build(engine, preset, QuantConfig.Unquantized, seed: 3);
using var attention = new CausalMixer(device, model.Qkv, model.AttentionOut, engine.Context.TokenCount, window: 4);
var report = engine.Capture();
Console.WriteLine($"captured {report.Graphs} graphs in {report.ElapsedMs:F0} ms");

foreach (int n in new[] { 3, 17, 64, 200 })
{
    model.RandomizeInputs((uint)n);
    var sw = System.Diagnostics.Stopwatch.StartNew();
    foreach (var layer in model.Layers)
    {
        engine.Forward(layer, n);                         // replays the graph of the smallest size >= n, or runs eagerly
        if (layer.Name.EndsWith(".qkv_proj", StringComparison.Ordinal))
            attention.Run(engine.Stream, n);               // the application's own eager step, on the engine's stream
    }
    engine.Stream.Synchronize();
    double ms = sw.Elapsed.TotalMilliseconds;
    var output = model.Output.SliceRows(0, n).DownloadFloats();
    double meanAbs = output.Average(v => Math.Abs((double)v));
    bool finite = output.All(float.IsFinite);
    Console.WriteLine($"step n={n,3} (graph size {engine.PaddedSize(n)?.ToString() ?? "none"}): {ms,8:F2} ms, output mean |x| = {meanAbs:F4}{(finite ? "" : " NOT FINITE")}");
    if (!finite) return 1;
}

var listing = engine.Listing();
Console.WriteLine();
Console.WriteLine($"{"layer",-36} {"kind",-8} {"path",-6} {"replays",8} {"eager",6}  reason");
foreach (var l in listing.Layers)
    Console.WriteLine($"{l.Name,-36} {l.Kind,-8} {l.Path,-6} {l.Replays,8} {l.EagerRuns,6}  {l.FallbackReason}");
Console.WriteLine($"{listing.GraphLayers} layers on graphs, {listing.EagerLayers} eager; {listing.Graphs} graphs, " +
                  $"capture {listing.CaptureMs:F1} ms, graph memory {listing.GraphBytes / 1048576.0:F1} MiB");
return 0;

using GraphEngine.Graph;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Layers;
using GraphEngine.Models;
using GraphEngine.Samples.Embedding;
using Microsoft.Extensions.Logging;

// How an application embeds GraphEngine: it registers its own eager step (attention, here a causal
// stand-in) after each qkv_proj with engine.AddEager. Those steps are split points: in Segment granularity
// every run of layers between two of them is one graph per size, and engine.Prefill(n) replays the graphs
// and runs the application's steps in order. Graph sizes and granularity come from graphengine.json beside
// the program, overridable by FD_BLOCK_WISE_CUDA_GRAPH_SIZES, GRAPHENGINE__... variables or switches such as
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
foreach (var qkv in model.Layers.Where(l => l.Name.EndsWith(".qkv_proj", StringComparison.Ordinal)).ToList())
    engine.AddEager(qkv.Name.Replace(".qkv_proj", ".attention", StringComparison.Ordinal), attention.Run, after: qkv);
var report = engine.Capture();
Console.WriteLine($"captured {report.Graphs} graphs in {report.ElapsedMs:F0} ms");

foreach (int n in new[] { 3, 17, 64, 200 })
{
    model.RandomizeInputs((uint)n);
    var sw = System.Diagnostics.Stopwatch.StartNew();
    engine.Prefill(n);          // graphs of the smallest size >= n between the application's steps, which run eagerly
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
foreach (var seg in listing.Segments)
    Console.WriteLine($"segment {seg.FirstLayer} .. {seg.LastLayer}: {seg.LayerCount} layers, {seg.Replays} replays");
Console.WriteLine($"{listing.GraphLayers} layers on graphs, {listing.EagerLayers} eager; {listing.Graphs} graphs, " +
                  $"capture {listing.CaptureMs:F1} ms, graph memory {listing.GraphBytes / 1048576.0:F1} MiB");
return 0;

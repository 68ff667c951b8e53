using GraphEngine.Graph;
using GraphEngine.Graph.DependencyInjection;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Numerics;
using GraphEngine.Layers;
using GraphEngine.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

// Graph settings from ./graphengine.json, FD_BLOCK_WISE_* and GRAPHENGINE__ variables, and switches such as
// --graph-sizes=1,8, bound strictly: a bad value stops the program with a message naming where it came from.
var preset = ModelPresets.Tiny;
var config = EngineConfiguration.Build(jsonPath: null, args);
var services = new ServiceCollection().AddLogging(b => b.AddSimpleConsole(o => o.SingleLine = true));
services.AddGraphEngine(config).AddPrefillEngine(maxTokens: preset.MaxTokens);   // no more rows than the preset has
using var provider = services.BuildServiceProvider();

using var device = Device.Open();                        // CUDA when there is a GPU, else the reference backend
using var engine = provider.GetRequiredService<IPrefillEngineFactory>().Create(device);
var model = ModelFactory.Build(engine, preset, QuantConfig.Parse("wint8", "the sample"), seed: 1);
foreach (var qkv in model.Layers.Where(l => l.Name.EndsWith(".qkv_proj", StringComparison.Ordinal)).ToList())
    engine.AddEager(qkv.Name + ".attention", (stream, tokens) => { /* your attention, on stream */ }, after: qkv);
var capture = engine.Capture();                          // the layers between your steps, at every size, largest first
Console.WriteLine($"device: {device.Info}; captured {capture.Graphs} graphs");

int n = 100;                                             // tokens in this prefill step
model.RandomizeInputs(seed: 2);
engine.Prefill(n);                                       // graphs of the smallest size >= n, your steps between them
engine.Stream.Synchronize();
var output = model.Output.SliceRows(0, n).DownloadFloats();
Console.WriteLine($"n={n} ran on graph size {engine.PaddedSize(n)}; output finite: {output.All(float.IsFinite)}");
Console.WriteLine(engine.Listing().ToJson());            // path, sizes, fallback reason, capture ms, graph memory
return output.All(float.IsFinite) ? 0 : 1;

using GraphEngine.Kernels;
using GraphEngine.Models.Checkpoints;
using GraphEngine.Samples.RealModel;
using Microsoft.Extensions.Logging;

// An application's whole forward on a Hugging Face checkpoint (ERNIE-4.5-MoE, Qwen3-MoE, Llama, Qwen3): embedding lookup,
// the engine's layers as its loader builds them, the application's own causal attention as split points between them
// (a CUDA kernel compiled by the engine's compiler; managed code on the reference backend) and the final norm. It runs
// eagerly, with Layer graphs and with Segment graphs and checks the three bit for bit; with --expected it compares the
// final hidden states with transformers'. Exit status: 0 pass, 1 mismatch, 2 bad input.
//   graphengine-realmodel-sample --model DIR [--expected FILE] [--tokens 1,7,33] [--sizes 1,8,64] [--max-tokens N] [--backend auto|cuda|reference]
using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
var logger = loggerFactory.CreateLogger("realmodel");
try
{
    var parsed = SampleArguments.Parse(args);
    using var device = Device.Open(parsed.Backend, logger);
    return new SampleRun(Console.Out).Run(device, parsed, logger);
}
catch (Exception e) when (e is SampleUsageException or CheckpointException or DeviceUnavailableException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

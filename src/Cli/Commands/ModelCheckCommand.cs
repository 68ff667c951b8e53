using GraphEngine.Graph;
using GraphEngine.Hosting;
using GraphEngine.Kernels;
using GraphEngine.Models.Checkpoints;
using GraphEngine.Models.Loading;

namespace GraphEngine.Cli.Commands;

/// <summary>
/// `graphengine check --model DIR [--oracle FILE]`: loads the checkpoint with <see cref="ModelLoader"/> and compares
/// every layer, fed its own input, with the float64 oracle from the checkpoint's weights on random hidden states
/// (tolerance <see cref="ModelCheck.Float64Tolerance"/>), or with the outputs another implementation recorded in
/// FILE (bench/interop/transformers_layers.py; tolerance <see cref="OracleFileCheck.Tolerance"/>). One line per
/// (layer, sublayer, n), then "N passed, N failed"; exit 1 on any failure.
/// </summary>
public static class ModelCheckCommand
{
    /// <summary>Token counts when --tokens is absent: one row, a few, and a count past the usual tile sizes.</summary>
    private static readonly int[] DefaultTokens = { 1, 7, 100 };

    public static int Execute(CommandContext ctx, string? oracleFile)
    {
        var console = ctx.Console;
        var st = ctx.Settings;
        string dir = st.ModelDirectory
            ?? throw new UsageException("--oracle needs --model DIR: the checkpoint the recording was made from");
        if (oracleFile is not null) OptionValues.RequireFile(oracleFile, "--oracle", seekable: true);
        int[] tokens = ctx.Options.Tokens is null ? DefaultTokens : st.TokenCounts;
        st.RequireQuantFits();
        using var device = ctx.OpenDevice();
        console.Line($"device: {device.Info}; model: {st.Preset}; quant: {st.Quant.Label}");
        // Layers run one at a time here; graphs would only add capture time.
        using var engine = new PrefillEngine(device, new BlockWiseGraphOptions { Enabled = false }, RunSettings.CheckpointMaxTokens);
        try
        {
            using var model = ModelLoader.Load(engine, dir, st.Quant);
            using var checkpoint = CheckpointDirectory.Open(dir);
            var oracle = Float64Oracle.FromCheckpoint(checkpoint);
            var rows = oracleFile is null
                ? ModelCheck.AgainstFloat64(model, oracle, tokens)
                : OracleFileCheck.Run(model, oracle, oracleFile);
            foreach (var r in rows) console.Line(r.ToString());
            int passed = rows.Count(r => r.Passed);
            if (st.Json)
                JsonReport.Write(ctx, "check", device, new
                {
                    oracle = oracleFile ?? "float64",
                    passed, failed = rows.Count - passed,
                    layers = rows.Select(r => new { r.DecoderLayer, r.Sublayer, r.Tokens, r.RelativeError, r.Tolerance, r.Mismatches, r.Ties, r.Problem, r.Passed }),
                });
            console.Line($"{passed} passed, {rows.Count - passed} failed");
            return passed == rows.Count ? ExitCodes.Ok : ExitCodes.Failed;
        }
        catch (CheckpointException e)
        {
            throw new UsageException(e.Message, e);
        }
    }
}

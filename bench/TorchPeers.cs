using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using GraphEngine.Bench.Reports;
using GraphEngine.Hosting;
using GraphEngine.Models;

namespace GraphEngine.Bench;

/// <summary>
/// The spec handed to bench/torch_reference.py (the same stacks and kernel shapes we time), and the
/// reading of its answer into <see cref="BenchReport.Peers"/>. A peer that fails, or a script that
/// cannot run at all, is recorded as unavailable with its error; it never fails the bench.
/// </summary>
public sealed class TorchPeers
{
    private readonly JsonArray _stacks = new();
    private readonly JsonArray _kernels = new();

    public int Count => _stacks.Count + _kernels.Count;

    /// <summary>A preset's stack (bf16), eager and under torch.cuda.graph at each token count.</summary>
    public void AddPreset(ModelPreset p, string quantLabel, IReadOnlyList<int> tokens)
    {
        var ops = new JsonArray();
        foreach (var s in p.Plan())
        {
            switch (s.Kind)
            {
                case LayerSpecKind.RmsNorm:
                    ops.Add(new JsonObject { ["op"] = "rmsnorm", ["hidden"] = s.In, ["residual"] = s.FusedResidual });
                    break;
                case LayerSpecKind.Linear:
                    ops.Add(new JsonObject
                    {
                        ["op"] = "linear", ["in"] = s.In, ["out"] = s.Out,
                        // o_proj reads the attention stand-in buffer, as ours does.
                        ["fresh_input"] = s.Name.EndsWith(".o_proj", StringComparison.Ordinal),
                        ["swiglu"] = s.SwiGluOut > 0,
                    });
                    break;
                case LayerSpecKind.SwiGlu:
                    break; // folded into the gate_up op above
                case LayerSpecKind.Moe:
                    ops.Add(new JsonObject { ["op"] = "moe", ["hidden"] = p.Hidden, ["experts"] = p.Moe!.Experts, ["top_k"] = p.Moe.TopK, ["expert_ffn"] = p.Moe.ExpertFfn });
                    break;
            }
        }
        AddStack(p.Name, quantLabel, p.Hidden, ops, tokens);
    }

    public void AddStack(string name, string quantLabel, int hidden, JsonArray ops, IReadOnlyList<int> tokens)
    {
        var keys = new JsonObject();
        foreach (var mode in new[] { "eager", "graph" })
        {
            var byN = new JsonObject();
            foreach (int n in tokens) byN[n.ToString()] = BenchReport.PrefillKey(name, quantLabel, mode, n);
            keys[mode] = byN;
        }
        _stacks.Add(new JsonObject
        {
            ["name"] = name, ["hidden"] = hidden, ["ops"] = ops,
            ["tokens"] = new JsonArray(tokens.Select(t => (JsonNode)t).ToArray()), ["keys"] = keys,
        });
    }

    /// <summary>
    /// One kernel shape at every token count of <paramref name="tokens"/>: <paramref name="args"/> are the op's fields (op, k, n,
    /// mode, hidden, ...), <paramref name="perPoint"/> adds a point's own (the routed counts of a group GEMM). The script builds
    /// the rotation's instances once, at the largest count, and captures one graph per count with the same S and R as ours.
    /// </summary>
    public void AddKernels(string family, string variant, string shape, IReadOnlyList<int> tokens, Rotation rotation, JsonObject args,
        Func<int, JsonObject>? perPoint = null)
    {
        var points = new JsonArray();
        foreach (int n in tokens)
        {
            var point = perPoint?.Invoke(n) ?? new JsonObject();
            point["key"] = BenchReport.KernelKey(family, variant, shape, n);
            point["tokens"] = n;
            points.Add(point);
        }
        args["instances"] = rotation.Instances;
        args["repeats"] = rotation.Repeats;
        args["points"] = points;
        _kernels.Add(args);
    }

    /// <summary>Kernel points the spec holds (each shape counts once per token count).</summary>
    public int KernelPoints => _kernels.Sum(k => k!["points"]!.AsArray().Count);

    /// <summary>Runs the script and merges its results into the report.</summary>
    public void Run(BenchReport report, string python, string? scriptPath, int reps, int warmup, CliConsole console)
    {
        if (Count == 0) return;
        string? script = scriptPath ?? FindScript();
        if (script is null || !File.Exists(script))
        {
            report.TorchError = $"torch_reference.py not found{(scriptPath is null ? " beside the program or in bench/" : $" at '{scriptPath}'")}";
            return;
        }
        string spec = Path.Combine(Path.GetTempPath(), $"graphengine-torch-spec-{Environment.ProcessId}.json");
        File.WriteAllText(spec, new JsonObject { ["stacks"] = _stacks.DeepClone(), ["kernels"] = _kernels.DeepClone() }.ToJsonString());
        try
        {
            console.Line($"torch peers: {python} {script} ({_stacks.Count} stacks, {_kernels.Count} kernel shapes, {KernelPoints} kernel points)");
            var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { script, "--spec", spec, "--reps", reps.ToString(), "--warmup", warmup.ToString() }) psi.ArgumentList.Add(a);
            using var proc = new Process { StartInfo = psi };
            // stderr is read as it comes: the script's progress lines are shown while it runs, and a chatty
            // script cannot fill its pipe and stall.
            var stderr = new System.Text.StringBuilder();
            proc.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (stderr)
                {
                    stderr.AppendLine(e.Data);
                    console.Line($"  {e.Data}");
                }
            };
            if (!proc.Start()) throw new InvalidOperationException($"could not start {python}");
            proc.BeginErrorReadLine();
            string stdout = proc.StandardOutput.ReadToEnd();
            proc.WaitForExit();
            string err;
            lock (stderr) err = stderr.ToString();
            Merge(report, stdout, err, proc.ExitCode);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            report.TorchError = $"could not run {python}: {e.Message}";
        }
        finally
        {
            File.Delete(spec);
        }
    }

    /// <summary>Reads the script's JSON (the last line that parses) into the report.</summary>
    public static void Merge(BenchReport report, string stdout, string stderr, int exitCode)
    {
        JsonNode? doc = null;
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Reverse())
        {
            try { doc = JsonNode.Parse(line); break; }
            catch (JsonException) { }
        }
        if (doc is null)
        {
            string tail = stderr.Length > 600 ? stderr[^600..] : stderr;
            report.TorchError = $"torch_reference.py exited {exitCode} without JSON: {tail.ReplaceLineEndings(" ").Trim()}";
            return;
        }
        report.TorchVersion = doc["torch"]?.GetValue<string>();
        if (doc["error"] is { } err) report.TorchError = err.GetValue<string>();
        foreach (var r in doc["results"]?.AsArray() ?? new JsonArray())
        {
            if (r?["key"]?.GetValue<string>() is not { } key) continue;
            string name = r["name"]?.GetValue<string>() ?? "torch";
            double? ms = r["ms"] is { } m ? m.GetValue<double>() : null;
            report.Peers[key] = new PeerTime(name, ms, r["error"]?.GetValue<string>());
        }
    }

    private static string? FindScript()
    {
        foreach (var dir in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var d = new DirectoryInfo(dir); d is not null; d = d.Parent)
            {
                foreach (var candidate in new[] { Path.Combine(d.FullName, "torch_reference.py"), Path.Combine(d.FullName, "bench", "torch_reference.py") })
                    if (File.Exists(candidate)) return candidate;
            }
        }
        return null;
    }
}

using System.Text.Json.Nodes;

namespace GraphEngine.Bench.Reports;

/// <summary>
/// Reads a bench.json written by <see cref="ReportWriters.Json"/> back into a <see cref="BenchReport"/> (device, command,
/// ceilings, prefill and kernel points with their peers, flags, missing), so tables and charts can be made again from a
/// committed GPU run on a machine without a GPU.
/// </summary>
public static class BenchJson
{
    public static BenchReport Read(string json)
    {
        var root = JsonNode.Parse(json)?.AsObject() ?? throw new FormatException("bench.json is not a JSON object");
        var r = new BenchReport
        {
            Device = Str(root, "device") ?? "",
            Command = Str(root, "command") ?? "",
            When = root["when"] is { } w ? w.GetValue<DateTimeOffset>() : default,
            Repetitions = Int(root, "repetitions"),
            Warmup = Int(root, "warmup"),
            BusyTimeMethod = Str(root, "busyTimeMethod") ?? "",
            KernelTimingMethod = Str(root, "kernelTimingMethod") ?? "",
            HostFigures = root["hostFigures"]?.GetValue<bool>() ?? false,
            TorchVersion = Str(root, "torchVersion"),
            TorchError = Str(root, "torchError"),
        };
        if (root["ceilings"] is JsonObject c)
            r.Ceilings = new Ceilings(Num(c, "copyGBps"), (long)Num(c, "copyBufferBytes"), Num(c, "matrixTflops"), Str(c, "matrixShape") ?? "",
                Str(c, "method") ?? "", Num(c, "fp8Tflops"), Num(c, "int8Tops"));
        foreach (var p in Items(root, "prefill"))
        {
            var point = new PrefillPoint(Str(p, "preset") ?? "", Str(p, "quant") ?? "", Str(p, "mode") ?? "", Int(p, "tokens"), Num(p, "wallMs"),
                Num(p, "gpuSpanMs"), Num(p, "busyMs"), Num(p, "floorMs"), Str(p, "floorBound") ?? "", Num(p, "weightBytesRead"),
                Num(p, "expertsHit"), Num(p, "flops"), Num(p, "tracedWallMs"));
            r.Prefill.Add(point);
            foreach (var (field, mode) in new[] { ("torchEager", "eager"), ("torchGraph", "graph") })
                if (p[field] is JsonObject peer) r.Peers[BenchReport.PrefillKey(point.Preset, point.Quant, mode, point.Tokens)] = Peer(peer);
        }
        foreach (var k in Items(root, "kernels"))
        {
            var point = new KernelPoint(Str(k, "family") ?? "", Str(k, "variant") ?? "", Str(k, "shape") ?? "", Int(k, "tokens"), Num(k, "ms"),
                Num(k, "floorMs"), Str(k, "floorBound") ?? "", Str(k, "note"), Int(k, "instances"), Int(k, "repeats"));
            r.Kernels.Add(point);
            if (k["peer"] is JsonObject peer) r.Peers[BenchReport.KernelKey(point.Family, point.Variant, point.Shape, point.Tokens)] = Peer(peer);
        }
        foreach (var f in Items(root, "flags"))
            r.Flags.Add(new ScalingFlag(Str(f, "who") ?? "", Str(f, "series") ?? "", Str(f, "reason") ?? "",
                (f["keys"] as JsonArray ?? new JsonArray()).Select(x => x!.GetValue<string>()).ToList()));
        foreach (var m in Items(root, "missing")) r.Missing.Add(new Missing(Str(m, "what") ?? "", Str(m, "reason") ?? ""));
        return r;
    }

    private static PeerTime Peer(JsonObject p) =>
        new(Str(p, "name") ?? "torch", p["ms"] is { } ms ? ms.GetValue<double>() : null, Str(p, "error"));

    private static IEnumerable<JsonObject> Items(JsonObject o, string name) =>
        (o[name] as JsonArray ?? new JsonArray()).OfType<JsonObject>();

    private static string? Str(JsonObject o, string name) => o[name]?.GetValue<string>();
    private static int Int(JsonObject o, string name) => o[name] is { } v ? v.GetValue<int>() : 0;

    // The writer spells non-finite numbers as "NaN"/"Infinity" strings and leaves out nulls.
    private static double Num(JsonObject o, string name) => o[name] switch
    {
        null => double.NaN,
        JsonValue v when v.TryGetValue<double>(out var d) => d,
        JsonValue v when v.TryGetValue<string>(out var s) && double.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, out var d) => d,
        _ => double.NaN,
    };
}

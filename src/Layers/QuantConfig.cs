using System.Text.Json;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Layers;

/// <summary>A quantization setting that cannot be parsed, is not allowed where it was used, or cannot run on the device.</summary>
public sealed class QuantConfigException : GraphEngineException
{
    /// <summary>A quant setting error; <paramref name="message"/> names the value and where it came from.</summary>
    public QuantConfigException(string message) : base(message) { }
    /// <summary>A quant setting error caused by <paramref name="inner"/>.</summary>
    public QuantConfigException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// FastDeploy's quantization setting, resolved into the mode of dense (Linear) layers and the mode of
/// MoE expert layers. Accepted forms (docs/quantization.md):
/// <list type="bullet">
/// <item>a plain mode name: "wint8", "wint4", "w8a8", "w4a8", "block_wise_fp8", "w4afp8", "wi4a16", "nvfp4" / "modelopt_fp4",
/// "none" / "bf16" / "fp16";</item>
/// <item>a JSON object, either {"quantization": "&lt;plain mode&gt;"} or FastDeploy's mix_quant:
/// {"quantization":"mix_quant","dense_quant_type":"block_wise_fp8","is_moe_quantized":true,"moe_quant_type":"modelopt_fp4"},
/// optionally with "group_size" (-1 = per channel, or 128) and "nvfp4_backend".</item>
/// </list>
/// Decisions: wint8, wint4, w8a8 and w4a8 apply to both kinds of layer. A MoE-only mode (w4afp8, wi4a16, nvfp4)
/// given as the plain mode quantizes the MoE layers and leaves dense layers unquantized (FastDeploy's
/// behaviour for these methods, which only implement the MoE path); it is an error when the model has
/// no MoE layers, and always an error as "dense_quant_type". block_wise_fp8 as the plain mode applies to
/// dense layers only: this engine has no block-fp8 MoE kernel, so MoE layers stay unquantized (use
/// mix_quant to pick a MoE type).
/// <see cref="DenseGroupSize"/> and <see cref="MoeGroupSize"/> are what "group_size" said for that kind of layer:
/// null when not given (or the mode takes none), <see cref="GroupSize.PerChannel"/> for -1, else the group.
/// </summary>
public sealed record QuantConfig(QuantMode DenseMode, QuantMode MoeMode, GroupSize? DenseGroupSize, GroupSize? MoeGroupSize, string Nvfp4Backend)
{
    /// <summary>bf16/fp16 everywhere.</summary>
    public static readonly QuantConfig Unquantized = new(QuantMode.None, QuantMode.None, null, null, DefaultNvfp4Backend);

    /// <summary>The only nvfp4 path this engine has: fp4 dequantized to bf16 in registers, bf16 MMA.</summary>
    public const string DefaultNvfp4Backend = "dequant";

    /// <summary>Backends FastDeploy knows for nvfp4 that need SM100 fp4 tensor cores; refused with a message.</summary>
    public static readonly IReadOnlyList<string> NativeNvfp4Backends = new[] { "native", "flashinfer-cutlass", "flashinfer-cutedsl", "flashinfer-trtllm" };

    /// <summary>Modes only MoE experts accept (no dense kernel exists for them).</summary>
    public static readonly IReadOnlyList<QuantMode> MoeOnlyModes = new[] { QuantMode.W4AFp8, QuantMode.Wi4A16, QuantMode.Nvfp4 };

    /// <summary>Modes a dense layer accepts.</summary>
    public static readonly IReadOnlyList<QuantMode> DenseModes = new[] { QuantMode.None, QuantMode.WInt8, QuantMode.WInt4, QuantMode.W8A8, QuantMode.W4A8, QuantMode.BlockWiseFp8 };

    /// <summary>Modes a MoE layer accepts as "moe_quant_type".</summary>
    public static readonly IReadOnlyList<QuantMode> MoeModes = new[] { QuantMode.None, QuantMode.WInt8, QuantMode.WInt4, QuantMode.W8A8, QuantMode.W4A8, QuantMode.W4AFp8, QuantMode.Wi4A16, QuantMode.Nvfp4 };

    private static readonly string[] JsonKeys = { "quantization", "dense_quant_type", "is_moe_quantized", "moe_quant_type", "group_size", "nvfp4_backend" };

    /// <summary>True when dense layers and experts use different modes (FastDeploy's mix_quant).</summary>
    public bool IsMixed => DenseMode != MoeMode;

    /// <summary>For the listing: "wint4/g128", or "mix_quant(dense=block_wise_fp8, moe=nvfp4)".</summary>
    public string Label => IsMixed
        ? $"mix_quant(dense={ModeLabel(DenseMode, DenseGroupSize)}, moe={ModeLabel(MoeMode, MoeGroupSize)})"
        : ModeLabel(DenseMode, DenseGroupSize);

    /// <summary>The dense layers' mode for the listing, for example "wint4/g128".</summary>
    public string DenseLabel => ModeLabel(DenseMode, DenseGroupSize);
    /// <summary>The experts' mode for the listing, for example "nvfp4".</summary>
    public string MoeLabel => ModeLabel(MoeMode, MoeGroupSize);

    /// <summary>
    /// The group size the dense layers get: for wint4 and w4a8 the configured group (128 when "group_size" was not
    /// given), per channel for every other mode (wint8 and w8a8 have one scale per channel; block_wise_fp8 fixes its blocks).
    /// </summary>
    public GroupSize DenseLayerGroupSize => DenseMode is QuantMode.WInt4 or QuantMode.W4A8 ? DenseGroupSize ?? DefaultGroup : GroupSize.PerChannel;

    /// <summary>
    /// The group size the MoE layers get: for wint4, w4a8 and wi4a16 the configured group (128 when not given); for
    /// w4afp8 the configured one (FastDeploy PR #3171 has per-channel and group-128 scales), per channel when not
    /// given; per channel for the other modes. A group the config accepted is never dropped on the way to a layer.
    /// </summary>
    public GroupSize MoeLayerGroupSize => MoeMode switch
    {
        QuantMode.WInt4 or QuantMode.W4A8 or QuantMode.Wi4A16 => MoeGroupSize ?? DefaultGroup,
        QuantMode.W4AFp8 => MoeGroupSize ?? GroupSize.PerChannel,
        _ => GroupSize.PerChannel,
    };

    private static GroupSize DefaultGroup => GroupSize.Of(128);

    private static string ModeLabel(QuantMode m, GroupSize? group) => group switch
    {
        null => m.Label(),
        { IsPerChannel: true } => $"{m.Label()}/channel",
        { } g => $"{m.Label()}/{g}",
    };

    /// <summary>
    /// Parses a plain mode name or a JSON object. <paramref name="source"/> names where the text came
    /// from (a config key, a file) and appears in every error. <paramref name="modelHasMoe"/> false makes a
    /// MoE-only plain mode an error, since it would leave the model silently unquantized.
    /// </summary>
    public static QuantConfig Parse(string? text, string source, bool modelHasMoe = true)
    {
        if (string.IsNullOrWhiteSpace(text)) return Unquantized;
        text = text.Trim();
        var config = text[0] is '{' or '[' ? ParseJson(text, source) : ParsePlain(text, source, null);
        if (!modelHasMoe && config.DenseMode == QuantMode.None && MoeOnlyModes.Contains(config.MoeMode))
            throw new QuantConfigException(
                $"quantization '{config.MoeMode.Label()}' (from {source}) is a MoE-only quant type and the model has no MoE layers; " +
                $"dense layers accept: {Names(DenseModes)}");
        return config;
    }

    private static QuantConfig ParsePlain(string name, string source, int? groupSize)
    {
        if (string.Equals(name, "mix_quant", StringComparison.OrdinalIgnoreCase))
            throw new QuantConfigException(
                $"quantization 'mix_quant' (from {source}) needs the JSON form with dense_quant_type and moe_quant_type, " +
                "e.g. {\"quantization\":\"mix_quant\",\"dense_quant_type\":\"block_wise_fp8\",\"is_moe_quantized\":true,\"moe_quant_type\":\"w4afp8\"}");
        var mode = ParseMode(name, source, "quantization", AllNames);
        return mode switch
        {
            QuantMode.None => Unquantized,
            QuantMode.WInt8 or QuantMode.WInt4 or QuantMode.W8A8 or QuantMode.W4A8 => new(mode, mode, CheckGroup(mode, groupSize, source), CheckGroup(mode, groupSize, source), DefaultNvfp4Backend),
            QuantMode.BlockWiseFp8 => new(mode, QuantMode.None, null, null, DefaultNvfp4Backend),
            _ => new(QuantMode.None, mode, null, CheckGroup(mode, groupSize, source), DefaultNvfp4Backend),
        };
    }

    private static QuantConfig ParseJson(string text, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            throw new QuantConfigException($"quantization {InputText.Quote(text)} (from {source}) is not valid JSON: {InputText.OneLine(e.Message)}", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new QuantConfigException($"quantization {InputText.Quote(text)} (from {source}) must be a mode name or a JSON object");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in root.EnumerateObject())
            {
                if (!JsonKeys.Contains(p.Name))
                    throw new QuantConfigException($"unknown quantization key {InputText.Quote(p.Name)} (from {source}); accepted keys: {string.Join(", ", JsonKeys)}");
                if (!seen.Add(p.Name))
                    throw new QuantConfigException($"quantization key {InputText.Quote(p.Name)} appears twice (from {source}); give each key once");
            }

            string quantization = GetString(root, "quantization", source)
                ?? throw new QuantConfigException($"quantization JSON {InputText.Quote(text)} (from {source}) has no \"quantization\" key");
            int? groupSize = GetGroupSize(root, source);
            string backend = GetString(root, "nvfp4_backend", source) ?? DefaultNvfp4Backend;
            CheckNvfp4Backend(backend, source);

            QuantConfig config;
            if (!string.Equals(quantization, "mix_quant", StringComparison.OrdinalIgnoreCase))
            {
                foreach (var key in new[] { "dense_quant_type", "moe_quant_type", "is_moe_quantized" })
                    if (root.TryGetProperty(key, out _))
                        throw new QuantConfigException($"quantization key '{key}' (from {source}) only applies to \"mix_quant\", not to {InputText.Quote(quantization)}");
                config = ParsePlain(quantization, source, groupSize);
            }
            else
            {
                // Without it the dense layers would silently stay unquantized: say so instead of guessing.
                string denseName = GetString(root, "dense_quant_type", source)
                    ?? throw new QuantConfigException(
                        $"mix_quant (from {source}) has no dense_quant_type; give it (\"none\" keeps dense layers unquantized); accepted: {Names(DenseModes)}");
                var dense = ParseMode(denseName, source, "dense_quant_type", DenseNames);
                if (!DenseModes.Contains(dense))
                    throw new QuantConfigException(
                        $"dense_quant_type {InputText.Quote(denseName)} (from {source}) is a MoE-only quant type; dense layers accept: {Names(DenseModes)}");

                bool moeQuantized = true;
                if (root.TryGetProperty("is_moe_quantized", out var flag))
                {
                    if (flag.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                        throw new QuantConfigException($"is_moe_quantized (from {source}) must be true or false, got {InputText.Quote(flag.GetRawText())}");
                    moeQuantized = flag.GetBoolean();
                }
                string? moeName = GetString(root, "moe_quant_type", source);
                var moe = QuantMode.None;
                if (moeQuantized)
                {
                    if (moeName is null)
                        throw new QuantConfigException($"mix_quant (from {source}) has is_moe_quantized true but no moe_quant_type; accepted: {Names(MoeModes)}");
                    moe = ParseMode(moeName, source, "moe_quant_type", MoeNames);
                    if (!MoeModes.Contains(moe))
                        throw new QuantConfigException(
                            $"moe_quant_type {InputText.Quote(moeName)} (from {source}) has no MoE kernel in this engine; accepted: {Names(MoeModes)}");
                }
                config = new QuantConfig(dense, moe,
                    dense is QuantMode.WInt4 or QuantMode.WInt8 or QuantMode.W8A8 or QuantMode.W4A8 ? CheckGroup(dense, groupSize, source) : null,
                    moe == QuantMode.None ? null : CheckGroup(moe, groupSize, source), DefaultNvfp4Backend);
            }
            return config with { Nvfp4Backend = backend };
        }
    }

    private static string? GetString(JsonElement root, string key, string source)
    {
        if (!root.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String)
            throw new QuantConfigException($"quantization key '{key}' (from {source}) must be a string, got {InputText.Quote(v.GetRawText())}");
        return v.GetString()!.Trim();
    }

    private static int? GetGroupSize(JsonElement root, string source)
    {
        if (!root.TryGetProperty("group_size", out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int g))
            throw new QuantConfigException($"group_size (from {source}) must be an integer, got {InputText.Quote(v.GetRawText())}");
        return g;
    }

    /// <summary>
    /// wint4 / wint8 / w4afp8 / w4a8 take per-channel (-1) or 128-wide groups; w8a8 has one scale per output channel
    /// (-1 only: its int32 accumulator runs over all of K); the other modes fix their own grouping.
    /// <paramref name="group"/> is the raw JSON integer, so the messages quote what the user wrote.
    /// </summary>
    private static GroupSize? CheckGroup(QuantMode mode, int? group, string source)
    {
        if (group is null) return null;
        if (mode == QuantMode.W8A8)
        {
            if (group == -1) return GroupSize.PerChannel;
            throw new QuantConfigException($"group_size {group} (from {source}) is not supported for w8a8, which has one scale per output channel; accepted: -1 (per channel)");
        }
        if (mode is QuantMode.WInt4 or QuantMode.WInt8 or QuantMode.W4AFp8 or QuantMode.W4A8)
        {
            if (group == -1) return GroupSize.PerChannel;
            if (group == 128) return DefaultGroup;
            throw new QuantConfigException($"group_size {group} (from {source}) is not supported for {mode.Label()}; accepted: -1 (per channel), 128");
        }
        string fixedGroup = mode switch
        {
            QuantMode.Wi4A16 => "128",
            QuantMode.Nvfp4 => "16 (fp4 block scales)",
            _ => "its own fixed grouping",
        };
        if (mode == QuantMode.Wi4A16 && group == 128) return DefaultGroup;
        if (mode == QuantMode.Nvfp4 && group == 16) return GroupSize.Of(16);
        throw new QuantConfigException($"group_size {group} (from {source}) does not apply to {mode.Label()}, which uses {fixedGroup}");
    }

    /// <summary>Accepts only the dequant path; names the value and the accepted one otherwise.</summary>
    public static void CheckNvfp4Backend(string backend, string source)
    {
        if (string.Equals(backend, DefaultNvfp4Backend, StringComparison.OrdinalIgnoreCase)) return;
        if (NativeNvfp4Backends.Contains(backend, StringComparer.OrdinalIgnoreCase))
            throw new QuantConfigException(
                $"nvfp4_backend {InputText.Quote(backend)} (from {source}) needs native SM100 fp4 tensor cores (tcgen05), which this engine does not implement; " +
                $"accepted: {DefaultNvfp4Backend} (fp4 dequantized to bf16 in registers, bf16 MMA)");
        throw new QuantConfigException($"unknown nvfp4_backend {InputText.Quote(backend)} (from {source}); accepted: {DefaultNvfp4Backend}");
    }

    private static readonly string[] AllNames = QuantModes.ByName.Keys.Append("mix_quant").ToArray();
    private static string[] DenseNames => QuantModes.ByName.Where(kv => DenseModes.Contains(kv.Value)).Select(kv => kv.Key).ToArray();
    private static string[] MoeNames => QuantModes.ByName.Where(kv => MoeModes.Contains(kv.Value)).Select(kv => kv.Key).ToArray();

    private static QuantMode ParseMode(string name, string source, string key, string[] accepted)
    {
        if (QuantModes.ByName.TryGetValue(name, out var m)) return m;
        throw new QuantConfigException($"unknown {key} {InputText.Quote(name)} (from {source}); accepted: {string.Join(", ", accepted)}");
    }

    private static string Names(IEnumerable<QuantMode> modes) =>
        string.Join(", ", QuantModes.ByName.Where(kv => modes.Contains(kv.Value)).Select(kv => kv.Key));

    /// <summary>Throws when a mode of this config cannot run on <paramref name="device"/>; the reference backend runs everything.</summary>
    public void EnsureSupported(DeviceInfo device)
    {
        EnsureSupported(DenseMode, device);
        EnsureSupported(MoeMode, device);
    }

    /// <summary>
    /// fp8 modes (block_wise_fp8, w4afp8) need fp8 tensor cores: compute capability 8.9 or newer.
    /// nvfp4 runs through bf16 mma.sync (8.0 or newer), on Hopper and on newer GPUs alike; w8a8 and w4a8 need the
    /// int8 mma.sync m16n8k32 (8.0 or newer). <paramref name="layer"/>, when given, is named first in the message.
    /// </summary>
    public static void EnsureSupported(QuantMode mode, DeviceInfo device, string? layer = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (device.Backend == BackendKind.Reference) return;
        int cc = device.ComputeMajor * 10 + device.ComputeMinor;
        int need = Need(mode);
        if (cc < need)
            throw new QuantConfigException(
                (layer is null ? "" : $"layer '{layer}': ") + $"quant mode '{mode.Label()}' needs compute capability >= {need / 10}.{need % 10}, but {device.Name} is {device.Architecture}; " +
                $"modes this GPU runs: {string.Join(", ", Enum.GetValues<QuantMode>().Where(m => Need(m) <= cc).Select(m => m.Label()))}");
    }

    private static int Need(QuantMode m) => m switch
    {
        QuantMode.BlockWiseFp8 or QuantMode.W4AFp8 => 89,
        QuantMode.Nvfp4 or QuantMode.Wi4A16 or QuantMode.W8A8 or QuantMode.W4A8 => 80,
        _ => 0,
    };
}

using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using GraphEngine.Kernels;

namespace GraphEngine.Hosting;

/// <summary>
/// The one document a --json command prints: the same envelope on every command (schema version, command, commit,
/// device, model, quant) followed by the command's own fields, camelCase, enums as names.
/// </summary>
public static class JsonReport
{
    /// <summary>Bumped when a field is renamed or removed; new fields do not bump it.</summary>
    public const int SchemaVersion = 1;

    /// <summary>The serializer options of every --json document: indented, camelCase, enums as names, NaN and infinities as strings.</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,   // NaN differences stay readable
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>
    /// Writes the document for <paramref name="command"/>. <paramref name="device"/> is null for commands that open
    /// none (check --list); the envelope then says so rather than naming a device that was not used.
    /// </summary>
    public static void Write(CommandContext ctx, string command, Device? device, object body)
    {
        var st = ctx.Settings;
        var doc = new JsonObject
        {
            ["schemaVersion"] = SchemaVersion,
            ["command"] = command,
            ["commit"] = BuildInfo.Commit,
            ["dirty"] = BuildInfo.Dirty,
            ["device"] = device?.Info.ToString(),
            ["backend"] = device?.Kind.ToString() ?? st.Backend.ToString(),
            ["preset"] = st.Preset.Name,
            ["model"] = st.ModelDirectory,
            ["quant"] = st.Quant.Label,
        };
        if (JsonSerializer.SerializeToNode(body, Options) is JsonObject fields)
            foreach (var (key, value) in fields.ToList())
            {
                fields.Remove(key);
                if (doc.ContainsKey(key)) throw new InvalidOperationException($"JSON field '{key}' of {command} collides with the envelope");
                doc[key] = value;
            }
        ctx.Console.Document(doc.ToJsonString(Options));
    }
}

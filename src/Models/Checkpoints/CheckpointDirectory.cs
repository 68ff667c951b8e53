using System.Text.Json;
using GraphEngine.Kernels;

namespace GraphEngine.Models.Checkpoints;

/// <summary>
/// A Hugging Face checkpoint directory: config.json, optionally hf_quant_config.json, and the weights as
/// either <c>model.safetensors</c> alone or <c>model.safetensors.index.json</c> with the shards its
/// weight_map names (the single file wins when both exist, as in transformers). Every shard's header
/// is checked on open, and the index is checked against the shards, so a partial download fails here
/// rather than half-way through an upload. <see cref="Get"/> marks a tensor consumed;
/// <see cref="Unconsumed"/> lists the rest, so a loader can report unexpected tensors instead of
/// silently ignoring them.
/// </summary>
public sealed class CheckpointDirectory : IDisposable
{
    /// <summary>The weights as one file.</summary>
    public const string SingleFileName = "model.safetensors";
    /// <summary>The shard index (weight_map from tensor name to shard file), used when <see cref="SingleFileName"/> is absent.</summary>
    public const string IndexFileName = "model.safetensors.index.json";
    /// <summary>The model's Hugging Face configuration.</summary>
    public const string ConfigFileName = "config.json";
    /// <summary>The optional quantization configuration (ModelOpt's).</summary>
    public const string QuantConfigFileName = "hf_quant_config.json";

    private readonly IReadOnlyList<SafetensorsFile> _files;
    private readonly Dictionary<string, CheckpointTensor> _tensors;
    private readonly HashSet<string> _consumed = new(StringComparer.Ordinal);
    private readonly object _lock = new();

    private CheckpointDirectory(string directory, IReadOnlyList<SafetensorsFile> files,
        Dictionary<string, CheckpointTensor> tensors, string configJson, string? quantConfigJson)
    {
        Directory = directory;
        _files = files;
        _tensors = tensors;
        ConfigJson = configJson;
        QuantConfigJson = quantConfigJson;
    }

    /// <summary>The directory's path, as given to <see cref="Open"/>.</summary>
    public string Directory { get; }

    /// <summary>Path of config.json in <see cref="Directory"/>.</summary>
    public string ConfigPath => Path.Combine(Directory, ConfigFileName);

    /// <summary>config.json's text, unparsed; <see cref="Describe"/> parses it.</summary>
    public string ConfigJson { get; }

    /// <summary>hf_quant_config.json's text (ModelOpt's quantization description), or null when absent.</summary>
    public string? QuantConfigJson { get; }

    /// <summary>The safetensors files, in shard order.</summary>
    public IReadOnlyList<SafetensorsFile> Files => _files;

    /// <summary>Every tensor name across shards, ordinal order.</summary>
    public IReadOnlyList<string> Names => _tensors.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>Total bytes of tensor data across shards.</summary>
    public long TensorBytes => _tensors.Values.Sum(t => t.ByteLength);

    /// <summary>Opens <paramref name="directory"/>: reads config.json, opens every shard and checks its header and the index against the shards.</summary>
    /// <exception cref="CheckpointException">The directory, config.json or weights are missing, or a header or the index is invalid; the message names the file.</exception>
    public static CheckpointDirectory Open(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
            throw new CheckpointException(directory, null, "checkpoint directory does not exist");

        string configPath = Path.Combine(directory, ConfigFileName);
        if (!File.Exists(configPath))
            throw new CheckpointException(configPath, null, "config.json is missing from the checkpoint directory");
        string config = ReadJsonText(configPath, MaxConfigBytes);
        string quantPath = Path.Combine(directory, QuantConfigFileName);
        string? quant = File.Exists(quantPath) ? ReadJsonText(quantPath, MaxConfigBytes) : null;

        string single = Path.Combine(directory, SingleFileName);
        string index = Path.Combine(directory, IndexFileName);
        var files = new List<SafetensorsFile>();
        try
        {
            Dictionary<string, CheckpointTensor> tensors;
            if (File.Exists(single))
            {
                var f = SafetensorsFile.Open(single);
                files.Add(f);
                tensors = f.Entries.Values.ToDictionary(e => e.Name, e => new CheckpointTensor(f, e), StringComparer.Ordinal);
            }
            else if (File.Exists(index))
            {
                tensors = OpenSharded(directory, index, files);
            }
            else
            {
                throw new CheckpointException(directory, null, $"has neither {SingleFileName} nor {IndexFileName}");
            }
            return new CheckpointDirectory(directory, files, tensors, config, quant);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    private static Dictionary<string, CheckpointTensor> OpenSharded(string directory, string indexPath, List<SafetensorsFile> files)
    {
        var weightMap = ReadWeightMap(indexPath);

        var byShard = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        foreach (string shard in weightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            string shardPath = Path.Combine(directory, shard);
            if (System.IO.Directory.Exists(shardPath))
            {
                string who = weightMap.First(kv => kv.Value == shard).Key;
                throw new CheckpointException(indexPath, who, $"is mapped to shard '{CheckpointException.Clip(shard)}', which is a directory");
            }
            if (!File.Exists(shardPath))
            {
                string who = weightMap.First(kv => kv.Value == shard).Key;
                throw new CheckpointException(indexPath, who, $"is mapped to shard '{CheckpointException.Clip(shard)}', which is missing");
            }
            var f = SafetensorsFile.Open(shardPath);
            files.Add(f);
            byShard.Add(shard, f);
        }

        var tensors = new Dictionary<string, CheckpointTensor>(StringComparer.Ordinal);
        foreach (var f in files)
        {
            foreach (var e in f.Entries.Values)
            {
                if (tensors.TryGetValue(e.Name, out var first))
                    throw new CheckpointException(f.Path, e.Name,
                        $"tensor also appears in {Path.GetFileName(first.File.Path)}; a name must live in one shard");
                tensors.Add(e.Name, new CheckpointTensor(f, e));
            }
        }

        foreach (var (name, shard) in weightMap)
        {
            if (!byShard[shard].Contains(name))
                throw new CheckpointException(indexPath, name,
                    $"is mapped to {CheckpointException.Clip(shard)}, which does not hold it"
                    + (tensors.TryGetValue(name, out var elsewhere) ? $" (found in {Path.GetFileName(elsewhere.File.Path)})" : ""));
        }
        return tensors;
    }

    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(ReadJsonText(indexPath, MaxIndexBytes));
        }
        catch (JsonException e)
        {
            throw new CheckpointException(indexPath, null, $"is not valid JSON: {CheckpointException.Clip(e.Message)}", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new CheckpointException(indexPath, "weight_map", "index has no 'weight_map' object");
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var kv in map.EnumerateObject())
            {
                if (kv.Value.ValueKind != JsonValueKind.String)
                    throw new CheckpointException(indexPath, kv.Name, "weight_map values must be shard file names");
                string shard = kv.Value.GetString()!;
                // A shard is a file beside the index; anything with a directory part could read outside the checkpoint.
                if (shard.Length == 0 || shard != Path.GetFileName(shard) || shard is "." or "..")
                    throw new CheckpointException(indexPath, kv.Name,
                        $"names shard '{CheckpointException.Clip(shard)}', which is not a plain file name");
                if (!result.TryAdd(kv.Name, shard))
                    throw new CheckpointException(indexPath, kv.Name, "appears twice in weight_map");
            }
            if (result.Count == 0)
                throw new CheckpointException(indexPath, "weight_map", "weight_map is empty");
            return result;
        }
    }

    /// <summary>Largest config.json or hf_quant_config.json read: real ones are a few KB.</summary>
    public const int MaxConfigBytes = 16 << 20;

    /// <summary>Largest shard index read: the largest real ones (hundreds of shards, tens of thousands of tensors) are a few MB.</summary>
    public const int MaxIndexBytes = 64 << 20;

    /// <summary>
    /// One of the checkpoint's JSON files as text, read once through <see cref="InputFile"/>: a FIFO, /dev/zero, a file
    /// over <paramref name="maxBytes"/> or bytes that are not UTF-8 are a <see cref="CheckpointException"/> naming the file,
    /// never a hang or an out-of-memory crash.
    /// </summary>
    public static string ReadJsonText(string path, int maxBytes)
    {
        try
        {
            return InputFile.ReadAllText(path, maxBytes);
        }
        catch (InputFileException e) when (e.Problem == InputFileProblem.TooLarge)
        {
            throw new CheckpointException(path, null, $"{e.Message}; a checkpoint's JSON files are far smaller", e);
        }
        catch (InputFileException e)
        {
            throw new CheckpointException(path, null, e.Message, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(path, null, $"cannot be read: {CheckpointException.Clip(e.Message)}", e);
        }
    }

    /// <summary>Parses config.json (see <see cref="HfModelConfig"/>).</summary>
    public ModelDescription Describe() => HfModelConfig.Parse(ConfigJson, ConfigPath);

    /// <summary>Whether a tensor called <paramref name="name"/> is in any shard (does not mark it consumed).</summary>
    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <summary>The tensor called <paramref name="name"/>, marked consumed.</summary>
    public CheckpointTensor Get(string name)
    {
        if (!_tensors.TryGetValue(name, out var t))
            throw new CheckpointException(Directory, name, "tensor is not in the checkpoint");
        lock (_lock) _consumed.Add(name);
        return t;
    }

    /// <summary>Looks up the tensor called <paramref name="name"/> and marks it consumed when found.</summary>
    public bool TryGet(string name, out CheckpointTensor tensor)
    {
        if (!_tensors.TryGetValue(name, out tensor!)) return false;
        lock (_lock) _consumed.Add(name);
        return true;
    }

    /// <summary>
    /// <see cref="Get"/> after checking the shape (and, where given, the dtype) the model expects;
    /// the error names the tensor and both shapes.
    /// </summary>
    public CheckpointTensor Require(ExpectedTensor expected, SafetensorsDType? dtype = null)
    {
        var t = Get(expected.Name);
        if (!t.Shape.SequenceEqual(expected.Shape))
            throw new CheckpointException(t.File.Path, expected.Name,
                $"has shape {t.Entry.ShapeText}, the model expects [{string.Join(", ", expected.Shape)}]");
        if (dtype is { } d && t.DType != d)
            throw new CheckpointException(t.File.Path, expected.Name, $"is {t.DType.HeaderName()}, the model expects {d.HeaderName()}");
        return t;
    }

    /// <summary>Marks a tensor handled without reading it (a loader that deliberately skips it).</summary>
    public void MarkConsumed(string name)
    {
        if (!_tensors.ContainsKey(name))
            throw new CheckpointException(Directory, name, "tensor is not in the checkpoint");
        lock (_lock) _consumed.Add(name);
    }

    /// <summary>Names no <see cref="Get"/>, <see cref="TryGet"/> or <see cref="MarkConsumed"/> has asked for, ordinal order.</summary>
    public IReadOnlyList<string> Unconsumed()
    {
        lock (_lock)
            return _tensors.Keys.Where(n => !_consumed.Contains(n)).Order(StringComparer.Ordinal).ToArray();
    }

    /// <summary>Closes every shard; spans and tensors from this checkpoint are invalid afterwards.</summary>
    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}

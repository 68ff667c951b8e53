using GraphEngine.Graph;
using GraphEngine.Kernels;

namespace GraphEngine.Samples.RealModel;

/// <summary>Bad command-line input: one line naming the switch and the value (exit status 2).</summary>
public sealed class SampleUsageException(string message) : Exception(message);

/// <summary>
/// The sample's switches (<c>--name value</c> or <c>--name=value</c>):
/// <c>--model DIR</c> (required: a Hugging Face checkpoint directory), <c>--expected FILE</c> (transformers' final hidden
/// states, bench/interop/transformers_e2e.py), <c>--tokens 1,7,33</c> (step sizes with random token ids when there is no
/// file), <c>--sizes 1,8,64</c> (graph sizes; default the engine's list up to max tokens), <c>--max-tokens N</c> (default the
/// power of two at or above the largest step) and <c>--backend auto|cuda|reference</c>.
/// </summary>
public sealed record SampleArguments(string Model, string? Expected, IReadOnlyList<int> Tokens, IReadOnlyList<int>? Sizes, int? MaxTokens,
    BackendPreference Backend)
{
    /// <summary>Step sizes when neither --tokens nor --expected is given: odd counts, between graph sizes.</summary>
    public static readonly IReadOnlyList<int> DefaultTokens = new[] { 1, 7, 33 };

    /// <summary>Parses <paramref name="args"/>.</summary>
    /// <exception cref="SampleUsageException">A switch is unknown, repeated, missing its value, or its value is malformed.</exception>
    public static SampleArguments Parse(IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        string[] known = { "--model", "--expected", "--tokens", "--sizes", "--max-tokens", "--backend" };
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            int eq = a.IndexOf('=');
            string name = eq > 0 ? a[..eq] : a;
            if (!known.Contains(name))
                throw new SampleUsageException($"unknown argument '{a}'; known: {string.Join(", ", known)}");
            string? value = eq > 0 ? a[(eq + 1)..] : i + 1 < args.Count ? args[++i] : null;
            if (string.IsNullOrWhiteSpace(value)) throw new SampleUsageException($"{name} needs a value");
            if (!values.TryAdd(name, value)) throw new SampleUsageException($"{name} is given twice");
        }
        if (!values.TryGetValue("--model", out var model))
            throw new SampleUsageException("--model DIR is required: a Hugging Face checkpoint directory (config.json, *.safetensors)");
        if (values.ContainsKey("--tokens") && values.ContainsKey("--expected"))
            throw new SampleUsageException("--tokens and --expected exclude each other: the file's steps are the ones compared");
        try
        {
            int? maxTokens = values.TryGetValue("--max-tokens", out var m)
                ? SettingParsers.ParseInt(m, "max tokens", "--max-tokens", 1, PrefillEngine.MaxTokensLimit)
                : null;
            int limit = maxTokens ?? PrefillEngine.MaxTokensLimit;
            var tokens = values.TryGetValue("--tokens", out var t)
                ? SettingParsers.ParseCountList(t, "token count", "--tokens", 1, limit)
                : DefaultTokens.ToList();
            var sizes = values.TryGetValue("--sizes", out var s)
                ? SettingParsers.ParseCountList(s, "graph size", "--sizes", 1, limit)
                : null;
            var backend = values.TryGetValue("--backend", out var b)
                ? b switch
                {
                    "auto" => BackendPreference.Auto,
                    "cuda" => BackendPreference.Cuda,
                    "reference" => BackendPreference.Reference,
                    _ => throw new SampleUsageException($"--backend '{b}' is not one of auto, cuda, reference"),
                }
                : BackendPreference.Auto;
            return new SampleArguments(model, values.GetValueOrDefault("--expected"), tokens, sizes, maxTokens, backend);
        }
        catch (EngineConfigurationException e)
        {
            throw new SampleUsageException(e.Message);
        }
    }
}

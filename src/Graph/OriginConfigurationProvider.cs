using Microsoft.Extensions.Configuration;

namespace GraphEngine.Graph;

internal sealed class OriginConfigurationProvider : ConfigurationProvider
{
    private readonly OriginConfigurationSource _source;
    public OriginConfigurationProvider(OriginConfigurationSource source) => _source = source;

    public override void Load()
    {
        foreach (var (k, e) in _source.Entries) Data[k] = e.Value;
    }

    /// <summary>Where <paramref name="key"/> came from; for a section, where its first setting came from.</summary>
    public string OriginOf(string key)
    {
        if (_source.Entries.TryGetValue(key, out var e)) return e.Origin;
        foreach (var (k, v) in _source.Entries)
            if (k.StartsWith(key + ConfigurationPath.KeyDelimiter, StringComparison.OrdinalIgnoreCase)) return v.Origin;
        return $"{_source.Name} ({key})";
    }
    public bool IsZeroOrOne(string key) => _source.Entries.TryGetValue(key, out var e) && e.ZeroOrOne;
    public override string ToString() => _source.Name;
}

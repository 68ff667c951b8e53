using System.Collections;
using System.Globalization;
using GraphEngine.Kernels;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.CommandLine;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.FileProviders;

namespace GraphEngine.Graph;

internal sealed class OriginConfigurationProvider : ConfigurationProvider
{
    private readonly OriginConfigurationSource _source;
    public OriginConfigurationProvider(OriginConfigurationSource source) => _source = source;

    public override void Load()
    {
        foreach (var (k, e) in _source.Entries) Data[k] = e.Value;
    }

    public string OriginOf(string key) => _source.Entries.TryGetValue(key, out var e) ? e.Origin : $"{_source.Name} ({key})";
    public bool IsZeroOrOne(string key) => _source.Entries.TryGetValue(key, out var e) && e.ZeroOrOne;
    public override string ToString() => _source.Name;
}

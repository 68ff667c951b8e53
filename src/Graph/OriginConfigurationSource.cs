using Microsoft.Extensions.Configuration;

namespace GraphEngine.Graph;

/// <summary>In-memory settings that remember where each value came from (which variable).</summary>
internal sealed class OriginConfigurationSource : IConfigurationSource
{
    public OriginConfigurationSource(string name) => Name = name;
    public string Name { get; }
    internal Dictionary<string, (string? Value, string Origin, bool ZeroOrOne)> Entries { get; } = new(StringComparer.OrdinalIgnoreCase);

    public void Set(string key, string? value, string origin, bool zeroOrOne) => Entries[key] = (value, origin, zeroOrOne);
    public IConfigurationProvider Build(IConfigurationBuilder builder) => new OriginConfigurationProvider(this);
}

using GraphEngine.Kernels;

namespace GraphEngine.Hosting.Reliability;

/// <summary>What a fault case found: whether the engine survived the fault (every check held) and what was checked.</summary>
public sealed record FaultOutcome(bool Survived, string Detail)
{
    /// <summary>Survived only if every part did; the detail is every part's when all held, else the failed parts' only.</summary>
    public static FaultOutcome All(IReadOnlyList<FaultOutcome> parts)
    {
        var failed = parts.Where(p => !p.Survived).ToList();
        return new(failed.Count == 0, string.Join("; ", (failed.Count == 0 ? parts : failed).Select(p => p.Detail)));
    }

    /// <summary>A check: <paramref name="holds"/>, described by <paramref name="detail"/>.</summary>
    public static FaultOutcome Check(bool holds, string detail) => new(holds, detail);
}

/// <summary>One fault injected into one situation (a layer kind and granularity, a load, a compile) on a device.</summary>
public sealed record FaultCase(string Name, Func<Device, FaultOutcome> Run)
{
    /// <inheritdoc/>
    public override string ToString() => Name;
}

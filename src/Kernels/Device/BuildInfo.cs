using System.Reflection;

namespace GraphEngine.Kernels;

/// <summary>
/// The commit this build came from, stamped at build time into the informational version, so every result
/// (check, bench, profile) names the code that produced it even on a machine without the repository.
/// </summary>
public static class BuildInfo
{
    private static readonly Lazy<(string Commit, bool Dirty)> s_commit = new(Read);

    /// <summary>The short commit hash, or "unknown" for a build made outside a git checkout.</summary>
    public static string Commit => s_commit.Value.Commit;

    /// <summary>Whether the checkout had uncommitted changes to tracked files when it was built.</summary>
    public static bool Dirty => s_commit.Value.Dirty;

    /// <summary>"abc123def456", "abc123def456 (dirty)" or "unknown".</summary>
    public static string Describe() => Dirty ? $"{Commit} (dirty)" : Commit;

    private static (string, bool) Read()
    {
        string? v = typeof(BuildInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        int plus = v?.IndexOf('+') ?? -1;
        if (v is null || plus < 0 || plus == v.Length - 1) return ("unknown", false);
        string rev = v[(plus + 1)..];
        bool dirty = rev.EndsWith(".dirty", StringComparison.Ordinal);
        return (dirty ? rev[..^".dirty".Length] : rev, dirty);
    }
}

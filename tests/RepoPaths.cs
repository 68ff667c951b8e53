namespace GraphEngine.Tests;

/// <summary>Files of the checkout the tests run from (documents, scripts, native sources they hold to the code).</summary>
internal static class RepoPaths
{
    /// <summary>The directory holding GraphEngine.sln above the test binaries.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary><paramref name="parts"/> under <see cref="Root"/>.</summary>
    public static string Of(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "GraphEngine.sln"))) return d.FullName;
        throw new DirectoryNotFoundException($"no GraphEngine.sln above {AppContext.BaseDirectory}");
    }
}

namespace GraphEngine.Cli.Commands;

/// <summary>The bench command's paths, checked before any work: a report that cannot be written is known at once.</summary>
internal static class BenchPaths
{
    /// <summary>The files the report writers create in the output directory.</summary>
    public static readonly string[] ReportFiles = { "bench.json", "bench.md", "bench.svg" };

    /// <summary>The bench report's directory: see <see cref="OutputDirectory.Prepare"/>.</summary>
    public static string PrepareOutDir(string path, string option) => OutputDirectory.Prepare(path, option, ReportFiles);

    /// <summary>An input file given by a switch must exist and be a file.</summary>
    public static void RequireFile(string path, string option)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new UsageException($"{option} is empty: give the path of a file");
        string full = FullPath(path, option);
        if (Directory.Exists(full)) throw new UsageException($"{option} {InputText.Quote(path)} is a directory, not a file");
        if (!File.Exists(full)) throw new UsageException($"{option} {InputText.Quote(path)} does not exist (looked for {InputText.Quote(full)})");
    }

    private static string FullPath(string path, string option) => OutputDirectory.FullPath(path, option);
}

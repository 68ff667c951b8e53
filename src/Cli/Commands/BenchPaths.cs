namespace GraphEngine.Cli.Commands;

/// <summary>The bench command's paths, checked before any work: a report that cannot be written is known at once.</summary>
internal static class BenchPaths
{
    /// <summary>The files the report writers create in the output directory.</summary>
    public static readonly string[] ReportFiles = { "bench.json", "bench.md", "bench.svg" };

    /// <summary>The bench report's directory: see <see cref="OutputDirectory.Prepare"/>.</summary>
    public static string PrepareOutDir(string path, string option) => OutputDirectory.Prepare(path, option, ReportFiles);

    /// <summary>An input file given by a switch: see <see cref="OptionValues.RequireFile"/>.</summary>
    public static void RequireFile(string path, string option, bool seekable = false) => OptionValues.RequireFile(path, option, seekable);
}

using GraphEngine.Bench.Reports;
using Xunit;

namespace GraphEngine.Tests.Bench;

/// <summary>README's results table is the project's own rendering of the committed bench.json it names, never typed by hand.</summary>
public class ReadmeResultsTests
{
    private const string Marker = "<!-- results: ";

    [Fact]
    public void Readme_table_equals_the_table_regenerated_from_the_bench_json_it_names()
    {
        string root = RepoRoot();
        string readme = File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n");
        int at = readme.IndexOf(Marker, StringComparison.Ordinal);
        Assert.True(at >= 0, "README.md has no results marker");
        int end = readme.IndexOf(" -->", at, StringComparison.Ordinal);
        string relative = readme[(at + Marker.Length)..end];
        string json = Path.Combine(root, relative);
        Assert.True(File.Exists(json), $"README names {relative}, which is not committed");
        string text = File.ReadAllText(json);
        string table = ReadmeTable.Markdown(BenchJson.Read(text), "ernie45-21b-a3b").ReplaceLineEndings("\n").Trim();
        Assert.Contains(table, readme);
        // The run was stamped with the commit of the directory it is filed under, from a clean tree.
        using var doc = System.Text.Json.JsonDocument.Parse(text);
        var provenance = doc.RootElement.GetProperty("provenance");
        string commitDir = Path.GetFileName(Path.GetDirectoryName(json))!;
        Assert.StartsWith(commitDir, provenance.GetProperty("commit").GetString(), StringComparison.Ordinal);
        Assert.False(provenance.GetProperty("dirty").GetBoolean());
    }

    private static string RepoRoot() => RepoPaths.Root;
}

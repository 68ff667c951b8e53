using System.Reflection;
using System.Text.Json;

namespace GraphEngine.Tests.Samples;

/// <summary>README's "Embedding it" program is samples/Quickstart/Program.cs: it runs, and the README quotes it whole.</summary>
// Changes the working directory and Console.Out for the run, so it runs alone.
[Collection(nameof(GraphEngine.Tests.Graph.WorkingDirectoryCollection))]
public class QuickstartTests
{
    private static string RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GraphEngine.sln"))) return Path.Combine(dir.FullName, relative);
        throw new FileNotFoundException($"no GraphEngine.sln above {AppContext.BaseDirectory}");
    }

    [Fact]
    public void Main_runs_on_the_reference_backend_and_prints_the_listing()
    {
        // The project reference copies the sample beside the tests; its entry point is the README's program.
        var main = Assembly.Load("graphengine-quickstart").EntryPoint ?? throw new InvalidOperationException("no entry point");
        var saved = Console.Out;
        var output = new StringWriter();
        int exit;
        string cwd = Directory.GetCurrentDirectory();
        string empty = Directory.CreateTempSubdirectory("ge-quickstart-").FullName;
        try
        {
            Directory.SetCurrentDirectory(empty);      // no graphengine.json: the built-in settings
            Console.SetOut(output);
            exit = (int)main.Invoke(null, new object[] { Array.Empty<string>() })!;
        }
        finally
        {
            Console.SetOut(saved);
            Directory.SetCurrentDirectory(cwd);
            Directory.Delete(empty, recursive: true);
        }
        string text = output.ToString();
        Assert.True(exit == 0, text);
        Assert.Contains("n=100 ran on graph size 128; output finite: True", text);
        // The listing is the last thing printed: one JSON object from its first '{' line to the end.
        int json = text.IndexOf("\n{", StringComparison.Ordinal);
        using var listing = JsonDocument.Parse(text[(json + 1)..]);
        Assert.True(listing.RootElement.GetProperty("layers").GetArrayLength() > 0);
    }

    [Fact]
    public void The_readme_quotes_the_program_exactly()
    {
        string program = File.ReadAllText(RepoFile("samples/Quickstart/Program.cs")).ReplaceLineEndings("\n").TrimEnd();
        string readme = File.ReadAllText(RepoFile("README.md")).ReplaceLineEndings("\n");
        const string begin = "<!-- quickstart:begin -->\n```csharp\n", end = "\n```\n<!-- quickstart:end -->";
        int b = readme.IndexOf(begin, StringComparison.Ordinal);
        int e = readme.IndexOf(end, StringComparison.Ordinal);
        Assert.True(b >= 0 && e > b, "README.md lacks the quickstart markers");
        Assert.Equal(program, readme[(b + begin.Length)..e]);
    }
}

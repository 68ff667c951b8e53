using GraphEngine.Tests.Cli;

namespace GraphEngine.Tests.BadInput;

/// <summary>
/// A refused run writes nothing: checking --out creates nothing that outlives the check, so a run refused by a later
/// check (profile on the reference backend, a bad --readme-table, a preset too large for the backend) leaves no empty
/// output directory behind, and input files that never end or never open are refused without hanging.
/// </summary>
public sealed class OutputPathTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ge-badout-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string[] Entries() => Directory.GetFileSystemEntries(_dir, "*", SearchOption.AllDirectories).Order().ToArray();

    [Fact]
    public void Profile_on_the_reference_backend_leaves_no_output_directory()
    {
        string outDir = Path.Combine(_dir, "profile", "out");
        CliHarness.AssertUsageError(BadInputCli.Run("profile", "--backend", "reference", "--out", outDir), "reference backend");
        Assert.Empty(Entries());
    }

    [Theory]
    [InlineData("{")]
    [InlineData("[]")]
    [InlineData("")]
    public void A_bad_readme_table_input_leaves_no_output_directory(string text)
    {
        string input = Path.Combine(_dir, "bench.json");
        File.WriteAllText(input, text);
        string outDir = Path.Combine(_dir, "readme");
        CliHarness.AssertUsageError(BadInputCli.Run("bench", "--readme-table", input, "--out", outDir), input, "--readme-table");
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void A_readme_table_input_that_never_ends_or_never_opens_is_refused()
    {
        string outDir = Path.Combine(_dir, "readme");
        string zero = Path.Combine(_dir, "zero.json");
        if (SpecialFiles.LinkToDevZero(zero))
            CliHarness.AssertUsageError(SpecialFiles.RunWithin("bench", "--readme-table", zero, "--out", outDir), zero, "--readme-table", "MiB");
        string fifo = Path.Combine(_dir, "fifo.json");
        if (SpecialFiles.MkFifo(fifo))
            CliHarness.AssertUsageError(SpecialFiles.RunWithin("bench", "--readme-table", fifo, "--out", outDir), fifo, "--readme-table");
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void A_torch_script_fifo_is_refused_before_the_bench()
    {
        string fifo = Path.Combine(_dir, "torch_reference.py");
        if (!SpecialFiles.MkFifo(fifo)) return;
        string outDir = Path.Combine(_dir, "out");
        var r = SpecialFiles.RunWithin("bench", "--backend", "reference", "--torch", "--torch-script", fifo, "--out", outDir);
        CliHarness.AssertUsageError(r, fifo, "--torch-script", "not a regular file");
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void A_preset_too_large_for_the_backend_is_refused_before_the_ceilings_and_writes_nothing()
    {
        string outDir = Path.Combine(_dir, "bench");
        var r = BadInputCli.Run("bench", "--backend", "reference", "--preset", "llama3-8b", "--out", outDir);
        CliHarness.AssertUsageError(r, "'llama3-8b'", "GB of weights");
        Assert.DoesNotContain("ceilings", r.Out);
        Assert.False(Directory.Exists(outDir));
    }

    [Theory]
    [InlineData(300, 1)]
    [InlineData(200, 30)]
    public void An_out_path_too_long_for_the_file_system_is_refused_before_the_bench(int nameLength, int depth)
    {
        string outDir = Path.Combine(new[] { _dir }.Concat(Enumerable.Repeat(new string('n', nameLength), depth)).ToArray());
        var r = BadInputCli.Run("bench", "--backend", "reference", "--out", outDir, "--reps", "1");
        CliHarness.AssertUsageError(r, "--out", "longer than the file system allows");
        Assert.DoesNotContain("ceilings", r.Out);
        Assert.Empty(Entries());
    }

    [Fact]
    public void An_out_directory_under_a_file_names_the_file()
    {
        string file = Path.Combine(_dir, "file");
        File.WriteAllText(file, "keep");
        string outDir = Path.Combine(file, "a", "b");
        CliHarness.AssertUsageError(BadInputCli.Run("bench", "--backend", "reference", "--out", outDir), outDir, "--out", "is a file");
        Assert.Equal(new[] { file }, Entries());
    }

    [Fact]
    public void A_good_run_creates_the_nested_directory_it_writes_to()
    {
        string json = Path.Combine(RepoRoot(), "docs", "results", "prefill-h200.json");
        string outDir = Path.Combine(_dir, "new", "readme");
        var r = BadInputCli.Run("bench", "--readme-table", json, "--out", outDir);
        Assert.True(r.Exit == 0, r.Err);
        Assert.True(File.Exists(Path.Combine(outDir, "readme-table.md")));
        Assert.DoesNotContain(Entries(), e => Path.GetFileName(e).StartsWith(".graphengine-probe", StringComparison.Ordinal));
    }

    private static string RepoRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "GraphEngine.sln"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("GraphEngine.sln not found above the test binaries");
    }
}

using GraphEngine.Tests.Cli;

namespace GraphEngine.Tests.BadInput;

/// <summary>Bench output and input paths: refused before the device opens, leaving nothing behind.</summary>
public sealed class BenchPathTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ge-badbench-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private CliHarness.Result Bench(params string[] extra) =>
        BadInputCli.Run(new[] { "bench", "--backend", "reference" }.Concat(extra).ToArray());

    [Theory]
    [InlineData("file")]
    [InlineData("file/sub")]
    [InlineData("file/sub/deeper")]
    [InlineData("/proc/ge-bench-out")]
    [InlineData("/proc/ge-bench-out/a/b")]
    [InlineData("/dev/null")]
    [InlineData("holds-bench.json-dir")]
    public void Unusable_out_directory_is_refused_before_any_work(string kind)
    {
        string file = Path.Combine(_dir, "file");
        File.WriteAllText(file, "keep");
        string holder = Path.Combine(_dir, "holder");
        Directory.CreateDirectory(Path.Combine(holder, "bench.json"));
        string path = kind switch
        {
            "file" => file,
            "file/sub" => Path.Combine(file, "sub"),
            "file/sub/deeper" => Path.Combine(file, "sub", "deeper"),
            "holds-bench.json-dir" => holder,
            _ => kind,
        };
        if (kind.StartsWith("/proc") && !Directory.Exists("/proc/self")) return;
        var before = Directory.GetFileSystemEntries(_dir, "*", SearchOption.AllDirectories).Order().ToArray();
        var r = Bench("--out", path);
        CliHarness.AssertUsageError(r, path, "--out");
        Assert.DoesNotContain("ceilings", r.Out);
        Assert.Equal(before, Directory.GetFileSystemEntries(_dir, "*", SearchOption.AllDirectories).Order().ToArray());
        Assert.Equal("keep", File.ReadAllText(file));
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    public void Empty_out_is_refused(string path)
    {
        CliHarness.AssertUsageError(Bench("--out", path), "--out", "empty");
    }

    [Fact]
    public void Torch_script_that_is_a_directory_is_refused()
    {
        string outDir = Path.Combine(_dir, "out");
        CliHarness.AssertUsageError(Bench("--torch-script", _dir, "--out", outDir), _dir, "--torch-script");
        Assert.False(Directory.Exists(outDir));
    }

    [Theory]
    [InlineData("--reps", "0")]
    [InlineData("--reps", "2147483647")]
    [InlineData("--warmup", "-5")]
    [InlineData("--suite", "every")]
    public void A_bad_number_never_creates_the_out_directory(string option, string value)
    {
        string outDir = Path.Combine(_dir, "never", "created");
        CliHarness.AssertUsageError(Bench("--out", outDir, option, value), option);
        Assert.False(Directory.Exists(Path.Combine(_dir, "never")));
    }
}

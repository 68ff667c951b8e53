using System.Text.Json;

namespace GraphEngine.Tests.Cli;

/// <summary>
/// --json on every command: stdout is exactly one JSON document (the whole of it parses) carrying the envelope
/// (schemaVersion, command, commit, device, preset, quant); everything else goes to stderr.
/// </summary>
public sealed class JsonOutputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ge-json-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static JsonElement Document(CliHarness.Result r, string command)
    {
        Assert.True(r.Exit == 0, $"exit {r.Exit}; stderr: {r.Err}");
        JsonElement root;
        using (var doc = JsonDocument.Parse(r.Out)) root = doc.RootElement.Clone();   // the whole stdout, not a line of it
        Assert.Equal(JsonValueKind.Object, root.ValueKind);
        Assert.Equal(1, root.GetProperty("schemaVersion").GetInt32());
        Assert.Equal(command, root.GetProperty("command").GetString());
        Assert.Equal(BuildInfo.Commit, root.GetProperty("commit").GetString());
        Assert.Equal(BuildInfo.Dirty, root.GetProperty("dirty").GetBoolean());
        Assert.Equal("tiny", root.GetProperty("preset").GetString());
        Assert.Equal("none", root.GetProperty("quant").GetString());   // the default: unquantized
        Assert.Equal("Reference", root.GetProperty("backend").GetString());
        return root;
    }

    private static void AssertOpenedDevice(JsonElement root) =>
        Assert.StartsWith("CPU reference backend", root.GetProperty("device").GetString());

    [Fact]
    public void Run()
    {
        var root = Document(CliHarness.Run("run --json --backend reference --sizes 8 --tokens 3,9"), "run");
        AssertOpenedDevice(root);
        Assert.Equal(new[] { 3, 9 }, root.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("tokens").GetInt32()));
        Assert.True(root.GetProperty("listing").GetProperty("layers").GetArrayLength() > 0);
    }

    [Fact]
    public void List()
    {
        var root = Document(CliHarness.Run("list --json --backend reference --sizes 4"), "list");
        AssertOpenedDevice(root);
        Assert.Equal(22, root.GetProperty("layers").GetArrayLength());
    }

    [Fact]
    public void Check_prints_its_failure_lines_and_totals_on_stderr_and_only_the_document_on_stdout()
    {
        var r = CliHarness.Run("check --json --backend reference --filter rmsnorm");
        var root = Document(r, "check");
        AssertOpenedDevice(root);
        int passed = root.GetProperty("passed").GetInt32();
        Assert.True(passed > 0);
        Assert.Equal(0, root.GetProperty("failed").GetInt32());
        Assert.Equal(passed, root.GetProperty("cases").GetArrayLength());
        Assert.True(root.GetProperty("wallSeconds").GetDouble() > 0);
        Assert.Contains($"{passed} passed, 0 failed", r.Err);
    }

    [Fact]
    public void Check_list_opens_no_device_and_says_so()
    {
        var root = Document(CliHarness.Run("check --list --json --backend reference"), "check --list");
        Assert.Equal(JsonValueKind.Null, root.GetProperty("device").ValueKind);
        int count = root.GetProperty("count").GetInt32();
        Assert.True(count > 0);
        Assert.Equal(count, root.GetProperty("cases").GetArrayLength());
        Assert.Equal("sm_90", root.GetProperty("target").GetProperty("architecture").GetString());
        var variants = root.GetProperty("variants").EnumerateArray().ToArray();
        Assert.NotEmpty(variants);
        // Every variant selectable on the target is reached by a case; the others are marked.
        Assert.All(variants.Where(v => v.GetProperty("selectableHere").GetBoolean()), v => Assert.True(v.GetProperty("cases").GetArrayLength() > 0, v.GetProperty("name").GetString()));
        Assert.Contains(variants, v => v.GetProperty("notOnThisGpu").GetBoolean());
        Assert.Contains(root.GetProperty("cases").EnumerateArray(), c => c.GetProperty("variants").GetArrayLength() > 0);
    }

    [Fact]
    public void Bench_kernels()
    {
        string outDir = Path.Combine(_dir, "bench");
        var r = CliHarness.Run($"bench --json --backend reference --suite kernels --reps 1 --warmup 0 --out {outDir}");
        var root = Document(r, "bench");
        AssertOpenedDevice(root);
        var files = root.GetProperty("files").EnumerateArray().Select(f => f.GetString()!).ToList();
        Assert.Contains(files, f => f.EndsWith("bench.json", StringComparison.Ordinal));
        Assert.All(files, f => Assert.True(File.Exists(f), f));
        Assert.True(root.GetProperty("report").GetProperty("kernels").GetArrayLength() > 0);
        Assert.Contains("wrote ", r.Err);
    }

    [Fact]
    public void Profile_refused_on_the_reference_backend_leaves_stdout_empty_and_one_line_on_stderr()
    {
        var r = CliHarness.Run($"profile --json --backend reference --out {Path.Combine(_dir, "profile")}");
        Assert.Equal("", r.Out);
        CliHarness.AssertUsageError(r, "reference backend");
    }

    [Fact]
    public void A_bad_value_under_json_is_one_stderr_line_and_no_document()
    {
        var r = CliHarness.Run("list --json --backend reference --sizes 0");
        Assert.Equal("", r.Out);
        CliHarness.AssertUsageError(r, "graph size");
    }
}

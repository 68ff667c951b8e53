using System.Runtime.InteropServices;
using GraphEngine.Tests.Cli;

namespace GraphEngine.Tests.BadInput;

/// <summary>Bad configuration files: one line naming the file (and the key), read once, never hanging.</summary>
public sealed class ConfigFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ge-badcfg-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string text, string name = "cfg.json")
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Theory]
    [InlineData("""{"GraphEngine":{"Run":{"Preset":["tiny"]}}}""", "GraphEngine:Run:Preset")]
    [InlineData("""{"GraphEngine":{"Run":{"Preset":{"a":1}}}}""", "GraphEngine:Run:Preset")]
    [InlineData("""{"GraphEngine":{"Run":{"Preset":5}}}""", "GraphEngine:Run:Preset")]
    [InlineData("""{"GraphEngine":{"Run":{"Preset":null}}}""", "GraphEngine:Run:Preset")]
    [InlineData("""{"GraphEngine":{"Run":{"Preset":"nonesuch"}}}""", "'nonesuch'")]
    [InlineData("""{"GraphEngine":{"Run":{"Backend":["cuda"]}}}""", "GraphEngine:Run:Backend")]
    [InlineData("""{"GraphEngine":{"Run":{"Backend":"gpu"}}}""", "'gpu'")]
    [InlineData("""{"GraphEngine":{"Run":{"Debug":{}}}}""", "GraphEngine:Run:Debug")]
    [InlineData("""{"GraphEngine":{"Run":{"Debug":[true]}}}""", "GraphEngine:Run:Debug")]
    [InlineData("""{"GraphEngine":{"Run":{"Debug":"yes"}}}""", "'yes'")]
    [InlineData("""{"GraphEngine":{"Run":{"Tokens":[0]}}}""", "'0'")]
    [InlineData("""{"GraphEngine":{"Run":{"Tokens":{"a":1}}}}""", "GraphEngine:Run:Tokens")]
    [InlineData("""{"GraphEngine":{"Run":{"Tokens":"2147483648"}}}""", "out of range")]
    [InlineData("""{"GraphEngine":{"Run":{"Quant":[1]}}}""", "GraphEngine:Run:Quant")]
    [InlineData("""{"GraphEngine":{"Run":{"Quant":true}}}""", "GraphEngine:Run:Quant")]
    [InlineData("""{"GraphEngine":{"Run":{"Quant":{"quantization":"mix_quant","moe_quant_type":"wint4"}}}}""", "dense_quant_type")]
    [InlineData("""{"GraphEngine":{"Run":{"Quant":{"quantization":"wint4","quantization":"wint8"}}}}""", "'quantization'")]
    [InlineData("""{"GraphEngine":{"Run":{"Presets":"tiny"}}}""", "'Presets'")]
    [InlineData("""{"GraphEngine":{"Run":{"Preset":"tiny","preset":"tiny"}}}""", "'preset'")]
    [InlineData("""{"GraphEngine":{"Run":"tiny"}}""", "GraphEngine:Run")]
    [InlineData("""{"GraphEngine":{"Run":[1]}}""", "GraphEngine:Run")]
    [InlineData("""{"GraphEngine":{"Runn":{}}}""", "'Runn'")]
    [InlineData("""{"GraphEngine":5}""", "GraphEngine")]
    [InlineData("""{"GraphEngine":[1]}""", "GraphEngine")]
    [InlineData("""{"GraphEngine":{},"GraphEngine":{}}""", "'GraphEngine'")]
    [InlineData("""{"Graphengine2":{}}""", "'Graphengine2'")]
    [InlineData("""{"GraphEngine":{"BlockWiseCudaGraph":{"Enabled":{}}}}""", "GraphEngine:BlockWiseCudaGraph:Enabled")]
    [InlineData("""{"GraphEngine":{"BlockWiseCudaGraph":{"Enabled":"on"}}}""", "'on'")]
    [InlineData("""{"GraphEngine":{"BlockWiseCudaGraph":{"Debug":[false]}}}""", "GraphEngine:BlockWiseCudaGraph:Debug")]
    [InlineData("""{"GraphEngine":{"BlockWiseCudaGraph":{"Granularity":["Layer"]}}}""", "GraphEngine:BlockWiseCudaGraph:Granularity")]
    [InlineData("""{"GraphEngine":{"BlockWiseCudaGraph":{"Granularity":"block"}}}""", "'block'")]
    [InlineData("""{"GraphEngine":{"BlockWiseCudaGraph":{"Sizes":{"a":1}}}}""", "GraphEngine:BlockWiseCudaGraph:Sizes")]
    [InlineData("""{"GraphEngine":{"BlockWiseCudaGraph":{"Sizes":[[1]]}}}""", "GraphEngine:BlockWiseCudaGraph:Sizes:0")]
    [InlineData("""{"GraphEngine":{"BlockWiseCudaGraph":{"Sizes":[true]}}}""", "GraphEngine:BlockWiseCudaGraph:Sizes:0")]
    [InlineData("""{"GraphEngine":{"BlockWiseCudaGraph":{"Sizes":[1,0]}}}""", "GraphEngine:BlockWiseCudaGraph:Sizes:1")]
    [InlineData("""{"GraphEngine":{"BlockWiseCudaGraph":{"Sizes":[]}}}""", "empty")]
    [InlineData("""{"GraphEngine":{"BlockWiseCudaGraph":{"Sizes":"1,x"}}}""", "'x'")]
    [InlineData("""{"GraphEngine":{"BlockWiseCudaGraph":{"Exclude":[{}]}}}""", "GraphEngine:BlockWiseCudaGraph:Exclude:0")]
    [InlineData("""{"GraphEngine":{"BlockWiseCudaGraph":{"Exclude":null}}}""", "GraphEngine:BlockWiseCudaGraph:Exclude")]
    [InlineData("""{"GraphEngine":{"BlockWiseCudaGraph":{"Size":"1"}}}""", "'Size'")]
    [InlineData("""{"GraphEngine":{"BlockWiseCudaGraph":5}}""", "GraphEngine:BlockWiseCudaGraph")]
    [InlineData("""{"GraphEngine":{"BlockWiseCudaGraph":{"Sizes":[1],"sizes":[2]}}}""", "'sizes'")]
    [InlineData("[1, 2]", "JSON object")]
    [InlineData("\"x\"", "JSON object")]
    [InlineData("{", "JSON")]
    [InlineData("", "JSON")]
    [InlineData("GraphEngine = 1", "JSON")]
    public void Bad_file_names_the_file_and_key(string json, string mustName)
    {
        string path = Write(json);
        var r = json.Contains("Backend") ? BadInputCli.Run("run", "--config", path) : BadInputCli.Run("run", "--backend", "reference", "--config", path);
        CliHarness.AssertUsageError(r, mustName, path);
    }

    [Fact]
    public void A_directory_is_called_a_directory()
    {
        CliHarness.AssertUsageError(BadInputCli.Run("check", "--config", _dir), _dir, "is a directory");
    }

    [Fact]
    public void A_missing_file_does_not_exist()
    {
        string path = Path.Combine(_dir, "nope.json");
        CliHarness.AssertUsageError(BadInputCli.Run("check", "--config", path), path, "does not exist");
    }

    [Fact]
    public void An_empty_path_is_named_with_its_switch()
    {
        CliHarness.AssertUsageError(BadInputCli.Run("check", "--config", ""), "--config", "empty");
    }

    [Fact]
    public void Dev_zero_stops_at_the_size_cap()
    {
        if (!File.Exists("/dev/zero")) return;
        CliHarness.AssertUsageError(BadInputCli.Run("check", "--config", "/dev/zero"), "/dev/zero", "MiB");
    }

    [Fact]
    public void Dev_null_is_not_json()
    {
        if (!File.Exists("/dev/null")) return;
        CliHarness.AssertUsageError(BadInputCli.Run("check", "--config", "/dev/null"), "/dev/null", "JSON");
    }

    [Fact]
    public void A_file_over_the_cap_is_refused()
    {
        string path = Path.Combine(_dir, "big.json");
        using (var f = File.Create(path)) f.SetLength(GraphEngine.Graph.EngineConfiguration.MaxFileBytes + 1L);
        CliHarness.AssertUsageError(BadInputCli.Run("check", "--config", path), path, "MiB");
    }

    [Fact]
    public void Bytes_that_are_not_utf8_are_refused()
    {
        string path = Path.Combine(_dir, "latin1.json");
        File.WriteAllBytes(path, new byte[] { (byte)'{', 0xff, 0xfe, (byte)'}' });
        CliHarness.AssertUsageError(BadInputCli.Run("check", "--config", path), path);
    }

    [DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int MkFifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);

    [Fact]
    public async Task A_fifo_with_no_writer_does_not_hang()
    {
        if (!OperatingSystem.IsLinux()) return;
        string path = Path.Combine(_dir, "fifo.json");
        Assert.Equal(0, MkFifo(path, 0x180));
        var run = Task.Run(() => BadInputCli.Run("check", "--config", path));
        var done = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(20)));
        Assert.True(done == run, "reading a FIFO with no writer hung");
        CliHarness.AssertUsageError(await run, path, "JSON");
    }

    [DllImport("libc", EntryPoint = "pipe", SetLastError = true)]
    private static extern int Pipe(int[] fds);

    [DllImport("libc", EntryPoint = "write", SetLastError = true)]
    private static extern nint WriteFd(int fd, byte[] buffer, nint count);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int CloseFd(int fd);

    [Fact]
    public void A_pipe_is_read_once_like_process_substitution()
    {
        if (!OperatingSystem.IsLinux()) return;
        // <(echo ...) hands the program /dev/fd/N: a pipe that can be read exactly once.
        var fds = new int[2];
        Assert.Equal(0, Pipe(fds));
        try
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes("""{"GraphEngine":{"Run":{"Preset":"frompipe"}}}""");
            Assert.Equal(bytes.Length, (int)WriteFd(fds[1], bytes, bytes.Length));
            CloseFd(fds[1]);
            fds[1] = -1;
            string path = $"/proc/self/fd/{fds[0]}";
            CliHarness.AssertUsageError(BadInputCli.Run("check", "--config", path), "'frompipe'", path);
        }
        finally
        {
            CloseFd(fds[0]);
            if (fds[1] >= 0) CloseFd(fds[1]);
        }
    }

    [Fact]
    public void A_huge_value_in_the_file_is_cut()
    {
        string path = Write("{\"GraphEngine\":{\"Run\":{\"Preset\":\"" + new string('p', 150_000) + "\"}}}");
        var r = BadInputCli.Run("check", "--config", path);
        CliHarness.AssertUsageError(r, "'ppp", path);
    }
}

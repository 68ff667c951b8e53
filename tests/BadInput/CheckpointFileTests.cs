using GraphEngine.Models.Checkpoints;
using GraphEngine.Tests.Cli;
using GraphEngine.Tests.Models.Checkpoints;
using GraphEngine.Tests.Models.Loading;

namespace GraphEngine.Tests.BadInput;

/// <summary>
/// --model directories whose files are not what they claim: FIFOs, /dev/zero, oversize or non-UTF-8 JSON, a shard that
/// is a directory. Each is one line naming the file, exit 2, and ends: before, a FIFO hung the open and /dev/zero ran the
/// process out of memory.
/// </summary>
public sealed class CheckpointFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Checkpoint() => new TinyCheckpoint(_dir.Path, TinyCheckpoint.LlamaJson).Directory;

    private CliHarness.Result List(string dir) => SpecialFiles.RunWithin("list", "--backend", "reference", "--sizes", "4", "--model", dir);

    [Theory]
    [InlineData("config.json")]
    [InlineData("hf_quant_config.json")]
    [InlineData("model.safetensors")]
    public void A_fifo_in_the_checkpoint_does_not_hang(string name)
    {
        string dir = Checkpoint();
        if (!SpecialFiles.MkFifo(Path.Combine(dir, name))) return;
        CliHarness.AssertUsageError(List(dir), Path.Combine(dir, name));
    }

    [Fact]
    public void A_fifo_safetensors_is_called_not_a_regular_file()
    {
        string dir = Checkpoint();
        if (!SpecialFiles.MkFifo(Path.Combine(dir, CheckpointDirectory.SingleFileName))) return;
        CliHarness.AssertUsageError(List(dir), "model.safetensors", "not a regular file", "--model");
    }

    [Theory]
    [InlineData("config.json", "16 MiB")]
    [InlineData("hf_quant_config.json", "16 MiB")]
    public void Dev_zero_stops_at_the_cap(string name, string cap)
    {
        string dir = Checkpoint();
        if (!SpecialFiles.LinkToDevZero(Path.Combine(dir, name))) return;
        CliHarness.AssertUsageError(List(dir), Path.Combine(dir, name), cap);
    }

    [Fact]
    public void A_shard_index_that_never_ends_stops_at_the_cap()
    {
        string dir = Checkpoint();
        File.Delete(Path.Combine(dir, CheckpointDirectory.SingleFileName));
        if (!SpecialFiles.LinkToDevZero(Path.Combine(dir, CheckpointDirectory.IndexFileName))) return;
        CliHarness.AssertUsageError(List(dir), CheckpointDirectory.IndexFileName, "64 MiB");
    }

    [Fact]
    public void A_fifo_shard_index_does_not_hang()
    {
        string dir = Checkpoint();
        File.Delete(Path.Combine(dir, CheckpointDirectory.SingleFileName));
        if (!SpecialFiles.MkFifo(Path.Combine(dir, CheckpointDirectory.IndexFileName))) return;
        CliHarness.AssertUsageError(List(dir), CheckpointDirectory.IndexFileName, "JSON");
    }

    [Fact]
    public void An_oversize_config_json_is_refused()
    {
        string dir = Checkpoint();
        using (var f = File.OpenWrite(Path.Combine(dir, "config.json"))) f.SetLength(CheckpointDirectory.MaxConfigBytes + 1L);
        CliHarness.AssertUsageError(List(dir), "config.json", "16 MiB");
    }

    [Fact]
    public void A_config_json_that_is_not_utf8_is_refused_not_read_with_replacement_characters()
    {
        string dir = Checkpoint();
        string config = Path.Combine(dir, "config.json");
        var bytes = File.ReadAllBytes(config).ToList();
        bytes.InsertRange(bytes.LastIndexOf((byte)'}'), System.Text.Encoding.ASCII.GetBytes(", \"name\": \"").Concat(new byte[] { 0xE9 }).Concat(new[] { (byte)'"' }));
        File.WriteAllBytes(config, bytes.ToArray());
        CliHarness.AssertUsageError(List(dir), config, "UTF-8");
    }

    [Fact]
    public void A_config_json_with_a_byte_order_mark_loads()
    {
        string dir = Checkpoint();
        string config = Path.Combine(dir, "config.json");
        File.WriteAllBytes(config, new byte[] { 0xEF, 0xBB, 0xBF }.Concat(File.ReadAllBytes(config)).ToArray());
        var r = List(dir);
        Assert.True(r.Exit == 0, r.Err);
    }

    [Fact]
    public void A_directory_where_config_json_belongs_is_named()
    {
        string dir = Checkpoint();
        File.Delete(Path.Combine(dir, "config.json"));
        Directory.CreateDirectory(Path.Combine(dir, "config.json"));
        CliHarness.AssertUsageError(List(dir), dir, "config.json", "directory");
    }

    [Fact]
    public void A_model_path_that_is_a_file_is_called_a_file()
    {
        string dir = Checkpoint();
        string file = Path.Combine(dir, "config.json");
        CliHarness.AssertUsageError(List(file), file, "--model", "is a file");
    }

    [Fact]
    public void A_shard_that_is_a_directory_is_called_a_directory()
    {
        string dir = Checkpoint();
        File.Move(Path.Combine(dir, CheckpointDirectory.SingleFileName), Path.Combine(dir, "a.safetensors"));
        Directory.CreateDirectory(Path.Combine(dir, "b.safetensors"));
        File.WriteAllText(Path.Combine(dir, CheckpointDirectory.IndexFileName),
            """{"weight_map":{"model.norm.weight":"a.safetensors","lm_head.weight":"b.safetensors"}}""");
        CliHarness.AssertUsageError(List(dir), "'b.safetensors'", "is a directory");
    }

    [Fact]
    public void An_oracle_fifo_or_directory_is_refused_before_the_load()
    {
        string dir = Checkpoint();
        string fifo = _dir.File("oracle.safetensors");
        CliHarness.AssertUsageError(SpecialFiles.RunWithin("check", "--backend", "reference", "--model", dir, "--oracle", dir), dir, "--oracle", "is a directory");
        if (!SpecialFiles.MkFifo(fifo)) return;
        var r = SpecialFiles.RunWithin("check", "--backend", "reference", "--model", dir, "--oracle", fifo);
        CliHarness.AssertUsageError(r, fifo, "--oracle", "not a regular file");
        Assert.DoesNotContain("loaded", r.Out);
    }
}

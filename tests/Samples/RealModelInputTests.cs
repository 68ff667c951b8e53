using System.Reflection;
using System.Runtime.InteropServices;
using GraphEngine.Models.Checkpoints;
using GraphEngine.Samples.RealModel;
using GraphEngine.Tests.Models.Checkpoints;
using GraphEngine.Tests.Models.Loading;

namespace GraphEngine.Tests.Samples;

/// <summary>samples/RealModel's bad input: one line naming the value and where it came from; exit status 2 from the program.</summary>
public class RealModelInputTests
{
    private static AttentionConfig Attention(string json) =>
        AttentionConfig.From(HfModelConfig.Parse(json, "ckpt/config.json"), json, "ckpt/config.json");

    [Theory]
    [InlineData(new[] { "--tokens", "7" }, "--model DIR is required")]
    [InlineData(new[] { "--model", "d", "--bogus", "1" }, "unknown argument '--bogus'")]
    [InlineData(new[] { "--model", "d", "--model", "e" }, "--model is given twice")]
    [InlineData(new[] { "--model" }, "--model needs a value")]
    [InlineData(new[] { "--model", "d", "--tokens", "1,0" }, "'0' (from --tokens, entry 2 of '1,0') is out of range")]
    [InlineData(new[] { "--model", "d", "--sizes=1;8" }, "separate values with commas only")]
    [InlineData(new[] { "--model", "d", "--max-tokens", "8", "--tokens", "9" }, "'9' (from --tokens) is out of range: expected a value in [1, 8]")]
    [InlineData(new[] { "--model", "d", "--backend", "gpu" }, "--backend 'gpu' is not one of auto, cuda, reference")]
    [InlineData(new[] { "--model", "d", "--expected", "f", "--tokens", "3" }, "--tokens and --expected exclude each other")]
    public void Bad_switches_name_the_switch_and_the_value(string[] args, string message)
    {
        var e = Assert.Throws<SampleUsageException>(() => SampleArguments.Parse(args));
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Switches_parse_in_both_forms_with_defaults()
    {
        var a = SampleArguments.Parse(new[] { "--model=ckpt", "--tokens", "3,5", "--backend=reference" });
        Assert.Equal("ckpt", a.Model);
        Assert.Equal(new[] { 3, 5 }, a.Tokens);
        Assert.Equal(GraphEngine.Kernels.BackendPreference.Reference, a.Backend);
        Assert.Null(a.Sizes);
        Assert.Null(a.Expected);
        Assert.Equal(SampleArguments.DefaultTokens, SampleArguments.Parse(new[] { "--model", "x" }).Tokens);
    }

    [Fact]
    public void Rope_theta_comes_from_rope_parameters_then_rope_theta_then_the_class_default()
    {
        var nested = Attention(TinyCheckpoint.WithKeys(TinyCheckpoint.Qwen3MoeJson, "\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1234.5}, \"rope_theta\": 7"));
        Assert.Equal(1234.5, nested.RopeTheta);
        Assert.Contains("rope_parameters.rope_theta", nested.RopeThetaSource);
        Assert.Equal(RotaryPairing.HalfSplit, nested.Pairing);
        Assert.True(nested.QkNorm);
        Assert.Equal(1e-6, nested.NormEps);

        var top = Attention(TinyCheckpoint.WithKeys(TinyCheckpoint.LlamaJson, "\"rope_theta\": 500000.0, \"rope_scaling\": null"));
        Assert.Equal(500000.0, top.RopeTheta);
        Assert.False(top.QkNorm);

        var ernie = Attention(TinyCheckpoint.ErnieJson);
        Assert.Equal(500000.0, ernie.RopeTheta);
        Assert.Equal(RotaryPairing.Interleaved, ernie.Pairing);
        Assert.Equal(10000.0, Attention(TinyCheckpoint.Qwen3MoeJson).RopeTheta);
        Assert.Equal(0.25f, Attention(TinyCheckpoint.ErnieJson).Scale);   // head_dim 16
    }

    [Theory]
    [InlineData("\"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 10000, \"factor\": 4}", "'rope_parameters.rope_type': is 'yarn'")]
    [InlineData("\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2}", "'rope_scaling.rope_type': is 'linear'")]
    [InlineData("\"rope_theta\": \"big\"", "'rope_theta': must be a number, got \"big\"")]
    [InlineData("\"rope_parameters\": {\"rope_theta\": -1}", "'rope_parameters.rope_theta': must be positive, got -1")]
    [InlineData("\"rope_parameters\": 5", "'rope_parameters': must be an object, got Number")]
    [InlineData("\"partial_rotary_factor\": 0.5", "'partial_rotary_factor': is 0.5")]
    [InlineData("\"use_sliding_window\": true", "'use_sliding_window': is true")]
    public void Rope_the_sample_does_not_implement_is_refused_by_key(string keys, string message)
    {
        var e = Assert.Throws<CheckpointException>(() => Attention(TinyCheckpoint.WithKeys(TinyCheckpoint.Qwen3MoeJson, keys)));
        Assert.StartsWith("ckpt/config.json: ", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void An_odd_head_dim_is_refused()
    {
        var json = TinyCheckpoint.Qwen3MoeJson.Replace("\"head_dim\": 16", "\"head_dim\": 15", StringComparison.Ordinal);
        var e = Assert.Throws<CheckpointException>(() => Attention(json));
        Assert.Contains("'head_dim': is 15", e.Message);
    }

    [Theory]
    [InlineData("cuda/attention.cu", "causal_attention")]
    [InlineData("cuda/embedding.cu", "embedding_gather")]
    public void The_kernel_sources_the_cuda_path_compiles_are_the_files_in_the_sample(string name, string kernel)
    {
        // The CUDA launchers hand these texts to GetKernelFromSource; CI runs the files under the host emulation.
        string text = KernelSources.Read(name);
        Assert.Contains($" {kernel}(", text);
        Assert.Equal(File.ReadAllText(RepoFile(Path.Combine("samples", "RealModel", name))), text);
        Assert.Throws<ArgumentException>(() => KernelSources.Read("cuda/none.cu"));
    }

    private static string RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GraphEngine.sln"))) return Path.Combine(dir.FullName, relative);
        throw new FileNotFoundException($"no GraphEngine.sln above {AppContext.BaseDirectory}");
    }

    private static byte[] Longs(params long[] v) => MemoryMarshal.AsBytes(v.AsSpan()).ToArray();

    [Fact]
    public void A_recorded_file_with_a_bad_id_or_a_missing_tensor_names_the_tensor()
    {
        using var dir = new TempDirectory();
        var model = HfModelConfig.Parse(TinyCheckpoint.LlamaJson, "config.json");
        var states = new byte[2 * model.Hidden * 4];
        string bad = new SafetensorsTestWriter()
            .Add("input_ids.n2", "I64", new long[] { 2 }, Longs(3, model.Vocab))
            .Add("last_hidden_state.n2", "F32", new long[] { 2, model.Hidden }, states)
            .Write(dir.File("bad.safetensors"));
        var e = Assert.Throws<CheckpointException>(() => ExpectedStates.Read(bad, model));
        Assert.Contains("'input_ids.n2': token 1 has id 40, outside the vocabulary [0, 40)", e.Message);

        string missing = new SafetensorsTestWriter().Add("input_ids.n2", "I64", new long[] { 2 }, Longs(3, 4)).Write(dir.File("missing.safetensors"));
        e = Assert.Throws<CheckpointException>(() => ExpectedStates.Read(missing, model));
        Assert.Contains("'last_hidden_state.n2': tensor is missing", e.Message);

        string empty = new SafetensorsTestWriter().Add("other", "F32", new long[] { 1 }, new byte[4]).Write(dir.File("empty.safetensors"));
        e = Assert.Throws<CheckpointException>(() => ExpectedStates.Read(empty, model));
        Assert.Contains("holds no 'input_ids.n{n}' tensor", e.Message);
    }
}

/// <summary>The program's exit status and stderr line; it replaces Console.Error for the run, so it runs alone.</summary>
[Collection(nameof(GraphEngine.Tests.Graph.WorkingDirectoryCollection))]
public class RealModelProgramTests
{
    private static (int Exit, string Out, string Err) RunProgram(params string[] args)
    {
        var main = Assembly.Load("graphengine-realmodel-sample").EntryPoint ?? throw new InvalidOperationException("no entry point");
        var (savedOut, savedErr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        try
        {
            Console.SetOut(o);
            Console.SetError(e);
            return ((int)main.Invoke(null, new object[] { args })!, o.ToString(), e.ToString());
        }
        finally
        {
            Console.SetOut(savedOut);
            Console.SetError(savedErr);
        }
    }

    [Fact]
    public void Bad_input_exits_2_with_one_line()
    {
        var (exit, _, err) = RunProgram("--model", "/nonexistent/ckpt", "--backend", "reference");
        Assert.Equal(2, exit);
        Assert.StartsWith("error: /nonexistent/ckpt", err);
        Assert.Single(err.TrimEnd().Split('\n'));

        (exit, _, err) = RunProgram("--model", "x", "--tokens", "abc");
        Assert.Equal(2, exit);
        Assert.Contains("'abc' (from --tokens) is not a whole number", err);

        using var dir = new TempDirectory();
        _ = new TinyCheckpoint(dir.Path, TinyCheckpoint.LlamaJson);
        (exit, _, err) = RunProgram("--model", dir.Path, "--backend", "reference", "--tokens", "3", "--sizes", "1,8");
        Assert.Equal(2, exit);
        Assert.Equal("error: graph size 8 (from --sizes) is above the 4 tokens a step may have (--max-tokens)", err.TrimEnd());
    }

    [Fact]
    public void A_checkpoint_runs_from_the_command_line_and_reports_one_result_line()
    {
        using var dir = new TempDirectory();
        _ = new TinyCheckpoint(dir.Path, TinyCheckpoint.Qwen3MoeJson, seed: 9);
        var (exit, output, err) = RunProgram("--model", dir.Path, "--backend", "reference", "--tokens", "3,17");
        Assert.True(exit == 0, output + err);
        var result = output.Split('\n').Single(l => l.StartsWith("result:", StringComparison.Ordinal));
        Assert.StartsWith("result: PASS: eager, Layer and Segment bit-identical at n=3,17 (Reference, commit ", result);
        Assert.Contains("2 split points, 3 segments", output);
    }
}

using GraphEngine.Graph;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;
using GraphEngine.Layers.Methods;
using GraphEngine.Layers.Quantization;
using GraphEngine.Models;

namespace GraphEngine.Tests.BadInput;

/// <summary>
/// Misuse of the public API found by probing it as a new user would: sizes whose arithmetic overflows, the empty
/// tensor, integers cast to enums, hand-made layer contexts, calls back into an engine from its own callbacks or
/// from a second thread, and objects used after their owner is gone. Each is refused with a typed exception that
/// names the value, and a refused build or constructor leaves no memory behind.
/// </summary>
public class ApiProbeTests
{
    private static BlockWiseGraphOptions Eager => new() { Enabled = false };

    /// <summary>Runs <paramref name="misuse"/>, expecting <typeparamref name="T"/>, and checks the engine's pool and the device hold what they held before.</summary>
    private static T RefusedWithNothingLeft<T>(PrefillEngine engine, Action misuse) where T : Exception
    {
        long inUse = engine.Pool.InUseBytes, allocated = engine.Device.AllocatedBytes;
        int layers = engine.Layers.Count;
        var e = Assert.Throws<T>(misuse);
        Assert.Equal(inUse, engine.Pool.InUseBytes);
        Assert.Equal(allocated, engine.Device.AllocatedBytes);
        Assert.Equal(layers, engine.Layers.Count);
        // ArgumentException appends the parameter and value on lines of its own; the engine's text is one line.
        if (e is not ArgumentException) Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    // ----- sizes whose arithmetic overflows -----

    public static TheoryData<long[]> OverflowingShapes => new()
    {
        new long[] { int.MaxValue, int.MaxValue, int.MaxValue },
        new long[] { long.MaxValue, 2 },
        new long[] { 1L << 32, 1L << 32 },
    };

    [Theory]
    [MemberData(nameof(OverflowingShapes))]
    public void A_shape_with_more_elements_than_a_long_counts_is_out_of_range_not_an_overflow(long[] shape)
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var buffer = device.AllocateTensor(DType.F32, new long[] { 4 }, out var t);
        long before = device.AllocatedBytes;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => device.AllocateTensor(DType.F32, shape, out _));
        Assert.Equal("shape", e.ParamName);
        Assert.Contains(shape[0].ToString(), e.Message);
        Assert.Equal("shape", Assert.Throws<ArgumentOutOfRangeException>(() => buffer.AsTensor(DType.F32, shape)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentOutOfRangeException>(() => t.Reshape(shape)).ParamName);
        Assert.Equal(before, device.AllocatedBytes);
    }

    [Theory]
    [InlineData(DType.F32, 1L << 62)]      // 2^64 bytes: wrapped to 0, and a 1-byte allocation held it
    [InlineData(DType.BF16, 1L << 62)]
    [InlineData(DType.I64, long.MaxValue / 4)]
    public void A_byte_count_past_a_long_is_refused_instead_of_wrapping_to_a_tiny_buffer(DType dtype, long elements)
    {
        using var device = Device.Open(BackendPreference.Reference);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => device.AllocateTensor(dtype, new long[] { elements }, out _));
        Assert.Equal("elements", e.ParamName);
        Assert.Contains(elements.ToString(), e.Message);
        Assert.Equal(0, device.AllocatedBytes);
        using var buffer = device.Allocate(64);
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.AsTensor(dtype, elements));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Tensor(device, buffer.Ptr, dtype, elements));
    }

    [Theory]
    [InlineData(1, long.MaxValue, "count")]      // start + count wrapped negative and passed the bound
    [InlineData(long.MaxValue, 1, "start")]
    [InlineData(-1, 1, "start")]
    [InlineData(5, 0, "start")]
    [InlineData(0, 5, "count")]
    [InlineData(2, -1, "count")]
    [InlineData(3, 2, "count")]
    public void Row_slices_outside_the_tensor_name_the_bad_argument(long start, long count, string param)
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var buffer = device.AllocateTensor(DType.F32, new long[] { 4, 4 }, out var t);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => t.SliceRows(start, count));
        Assert.Equal(param, e.ParamName);
        Assert.Contains((param == "start" ? start : count).ToString(), e.Message);
        Assert.Equal(0, t.SliceRows(4, 0).Rows);       // the empty slice at the end is legal
    }

    [Theory]
    [InlineData(long.MaxValue)]
    [InlineData(long.MaxValue - 100)]            // rounded up to the alignment, it wrapped negative: in-use bytes went negative
    public void A_pool_block_too_large_to_align_is_refused_and_the_pool_keeps_working(long bytes)
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var pool = new DevicePool(device, 4096, 1 << 20);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(bytes, "huge"));
        Assert.Equal("bytes", e.ParamName);
        Assert.Contains(DevicePool.MaxBlockBytes.ToString(), e.Message);
        Assert.Equal(0, pool.InUseBytes);
        using var block = pool.Rent(100);
        Assert.Equal(DevicePool.Alignment, pool.InUseBytes);
    }

    [Theory]
    [InlineData(long.MaxValue)]
    [InlineData(1L << 60)]
    public void An_activation_wider_than_a_byte_count_holds_names_width(long width)
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var engine = new PrefillEngine(device, Eager, 8);
        var e = RefusedWithNothingLeft<ArgumentOutOfRangeException>(engine, () => engine.Activation("wide", DType.BF16, width));
        Assert.Equal("width", e.ParamName);
        Assert.Contains("'wide'", e.Message);
        Assert.Contains((long.MaxValue / 2 / 8).ToString(), e.Message);
        Assert.Equal(0, engine.ActivationBytes);
    }

    [Fact]
    public void Device_weights_wider_than_int_features_are_refused_not_truncated()
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var buffer = device.Allocate(64);
        // A view only: nothing reads it. Its K of 2^32 became 0 in the int record.
        var wide = new Tensor(device, buffer.Ptr, DType.BF16, 1, 1L << 32);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => LinearWeights.FromDevice(wide));
        Assert.Equal("weights", e.ParamName);
        Assert.Contains("4294967296", e.Message);
    }

    // ----- the empty tensor and address 0 -----

    public enum EmptyUse { CopyFrom, CopyTo, ToArray, Reshape, SliceRows }

    [Theory]
    [InlineData(EmptyUse.CopyFrom)]
    [InlineData(EmptyUse.CopyTo)]
    [InlineData(EmptyUse.ToArray)]
    [InlineData(EmptyUse.Reshape)]
    [InlineData(EmptyUse.SliceRows)]
    public void The_empty_tensor_is_refused_by_name_not_a_null_reference(EmptyUse use)
    {
        Tensor empty = default;
        var e = Assert.Throws<InvalidOperationException>(() =>
        {
            switch (use)
            {
                case EmptyUse.CopyFrom: empty.CopyFrom<byte>(new byte[2]); break;
                case EmptyUse.CopyTo: empty.CopyTo<byte>(new byte[2]); break;
                case EmptyUse.ToArray: empty.ToArray<float>(); break;
                case EmptyUse.Reshape: empty.Reshape(1); break;
                case EmptyUse.SliceRows: empty.SliceRows(0, 0); break;
            }
        });
        Assert.Contains("default(Tensor)", e.Message);
        Assert.Equal(0, empty.ElementCount);
        Assert.Equal(0, empty.ByteCount);
    }

    [Fact]
    public void The_empty_tensor_fails_a_device_check_with_its_name()
    {
        using var device = Device.Open(BackendPreference.Reference);
        var e = Assert.Throws<ArgumentException>(() => default(Tensor).RequireDevice("layer.input", device));
        Assert.Equal("layer.input", e.ParamName);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void A_tensor_at_address_zero_is_refused_unless_it_has_no_bytes()
    {
        using var device = Device.Open(BackendPreference.Reference);
        var e = Assert.Throws<ArgumentException>(() => new Tensor(device, DevicePtr.Null, DType.F32, 4, 4));
        Assert.Equal("ptr", e.ParamName);
        Assert.Contains("64 bytes", e.Message);
        Assert.Equal(0, new Tensor(device, DevicePtr.Null, DType.F32, 0, 4).ByteCount);
    }

    [Fact]
    public void Two_devices_of_one_name_are_told_apart_in_the_message()
    {
        using var a = Device.Open(BackendPreference.Reference);
        using var b = Device.Open(BackendPreference.Reference);
        using var buffer = a.AllocateTensor(DType.BF16, new long[] { 4 }, out var t);
        var e = Assert.Throws<ArgumentException>(() => t.RequireDevice("x", b));
        Assert.Equal("x", e.ParamName);
        Assert.Contains("another device", e.Message);
    }

    // ----- integers cast to enums -----

    [Fact]
    public void An_undefined_dtype_names_the_parameter_everywhere_it_enters()
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var engine = new PrefillEngine(device, Eager, 8);
        using var buffer = device.Allocate(64);
        var bad = (DType)99;
        Assert.Equal("dtype", Assert.Throws<ArgumentOutOfRangeException>(() => new Tensor(device, buffer.Ptr, bad, 4)).ParamName);
        Assert.Equal("dtype", Assert.Throws<ArgumentOutOfRangeException>(() => device.AllocateTensor(bad, new long[] { 4 }, out _)).ParamName);
        var e = RefusedWithNothingLeft<ArgumentOutOfRangeException>(engine, () => engine.Activation("a", bad, 8));
        Assert.Equal("dtype", e.ParamName);
        Assert.Contains("99", e.Message);
        e = RefusedWithNothingLeft<ArgumentOutOfRangeException>(engine, () => ModelFactory.Build(engine, ModelPresets.Tiny, QuantConfig.Unquantized, activation: bad));
        Assert.Equal("activation", e.ParamName);
    }

    [Fact]
    public void Undefined_backend_and_granularity_are_refused_instead_of_silently_picking_one()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Device.Open((BackendPreference)9));
        Assert.Equal("preference", e.ParamName);
        Assert.Contains("9", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => new BlockWiseGraphOptions { Granularity = (Granularity)7 });
        Assert.Equal("Granularity", e.ParamName);
        Assert.Contains("7", e.Message);
    }

    [Theory]
    [InlineData(9, 0, "Layout")]
    [InlineData(0, 99, "Quant")]
    public void Moe_options_with_an_undefined_layout_or_mode_build_nothing(int layout, int quant, string param)
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var engine = new PrefillEngine(device, Eager, 8);
        var x = engine.Activation("x", DType.BF16, 64);
        var y = engine.Activation("y", DType.BF16, 64);
        var options = new MoeOptions(4, 2, 64, 32, Layout: (TokenLayout)layout, Quant: (QuantMode)quant);
        var e = RefusedWithNothingLeft<ArgumentOutOfRangeException>(engine, () => new Moe(engine.Context, "m", options, x, y));
        Assert.Equal(param, e.ParamName);
        Assert.Contains("'m'", e.Message);
    }

    [Fact]
    public void An_undefined_quant_mode_names_mode()
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var engine = new PrefillEngine(device, Eager, 8);
        var x = engine.Activation("x", DType.BF16, 64);
        var e = RefusedWithNothingLeft<ArgumentOutOfRangeException>(engine,
            () => Linear.Create(engine.Context, "l", x, x, (QuantMode)99, GroupSize.PerChannel, LinearWeights.Random(64, 64, 1, 0.1f)));
        Assert.Equal("mode", e.ParamName);
        Assert.Contains("99", e.Message);
    }

    // ----- hand-made layer contexts -----

    [Fact]
    public void A_layer_context_refuses_what_would_crash_a_kernel()
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var engine = new PrefillEngine(device, Eager, 8);
        var ctx = engine.Context;
        // Kernels read the token count through this address every forward: 0 there is a native crash.
        Assert.Equal("TokenCount", Assert.Throws<ArgumentException>(() => ctx with { TokenCount = DevicePtr.Null }).ParamName);
        Assert.Equal("TokenCount", Assert.Throws<ArgumentException>(() => new LayerContext(device, engine.Pool, 8, DevicePtr.Null)).ParamName);
        Assert.Equal("MaxTokens", Assert.Throws<ArgumentOutOfRangeException>(() => ctx with { MaxTokens = 0 }).ParamName);
        Assert.Equal("Pool", Assert.Throws<ArgumentNullException>(() => new LayerContext(device, null!, 8, ctx.TokenCount)).ParamName);
        Assert.Equal("Device", Assert.Throws<ArgumentNullException>(() => ctx with { Device = null! }).ParamName);
    }

    [Fact]
    public void A_layer_on_a_context_whose_pool_is_another_devices_builds_nothing()
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var other = Device.Open(BackendPreference.Reference);
        using var engine = new PrefillEngine(device, Eager, 8);
        using var otherPool = new DevicePool(other, 4096);
        var x = engine.Activation("x", DType.BF16, 64);
        Assert.Equal("Pool", Assert.Throws<ArgumentException>(() => new LayerContext(device, otherPool, 8, engine.Context.TokenCount)).ParamName);
        var mixed = engine.Context with { Pool = otherPool };
        var e = RefusedWithNothingLeft<ArgumentException>(engine, () => new RmsNorm(mixed, "n", 64, DType.BF16, 1e-6f, x, x));
        Assert.Equal("Pool", e.ParamName);
        Assert.Equal(0, otherPool.InUseBytes);
    }

    // ----- calls back into the engine, and a second thread -----

    public enum Reentry { Prefill, Forward, WriteTokenCount, Capture, Add, Activation, Dispose, Rollback }

    private static void CallBack(Reentry what, PrefillEngine engine, BuiltModel model, int n)
    {
        switch (what)
        {
            case Reentry.Prefill: engine.Prefill(n); break;          // recursed until the stack overflowed
            case Reentry.Forward: engine.Forward(model.Layers[0], n); break;
            case Reentry.WriteTokenCount: engine.WriteTokenCount(n); break;
            case Reentry.Capture: engine.Capture(); break;           // replaced the graphs the walk was replaying
            case Reentry.Add: engine.AddEager("late", (_, _) => { }, after: model.Layers[0]); break;  // shifted the walk's indices
            case Reentry.Activation: engine.Activation("late", DType.BF16, 8); break;
            case Reentry.Dispose: engine.Dispose(); break;           // freed the layers the walk runs next
            case Reentry.Rollback: engine.RollbackTo(new PrefillEngine.BuildMark(0, 0)); break;
        }
    }

    [Theory]
    [InlineData(Reentry.Prefill)]
    [InlineData(Reentry.Forward)]
    [InlineData(Reentry.WriteTokenCount)]
    [InlineData(Reentry.Capture)]
    [InlineData(Reentry.Add)]
    [InlineData(Reentry.Activation)]
    [InlineData(Reentry.Dispose)]
    [InlineData(Reentry.Rollback)]
    public void An_eager_step_calling_back_into_its_engine_is_refused_and_the_engine_keeps_working(Reentry what)
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var engine = new PrefillEngine(device, new BlockWiseGraphOptions { Sizes = new[] { 2, 8 } }, 8);
        var model = ModelFactory.Build(engine, ModelPresets.Tiny, QuantConfig.Unquantized);
        bool reenter = false;
        engine.AddEager("step", (_, n) => { if (reenter) CallBack(what, engine, model, n); }, after: model.Layers[1]);
        engine.Capture();
        model.RandomizeInputs(1);      // the capture's warm-ups updated the residual stream in place
        engine.Prefill(3);
        var expected = model.Output.SliceRows(0, 3).DownloadFloats();
        int layers = engine.Layers.Count;
        long inUse = engine.Pool.InUseBytes;

        reenter = true;
        model.RandomizeInputs(1);
        var e = Assert.Throws<InvalidOperationException>(() => engine.Prefill(3));
        Assert.Contains($"PrefillEngine.{(what == Reentry.Rollback ? "RollbackTo" : what == Reentry.Add ? "Add" : what.ToString())} refused", e.Message);
        Assert.Contains("inside Prefill on this thread", e.Message);

        reenter = false;
        Assert.False(engine.IsDisposed);
        Assert.True(engine.IsCaptured);
        Assert.Equal(layers, engine.Layers.Count);
        Assert.Equal(inUse, engine.Pool.InUseBytes);
        model.RandomizeInputs(1);
        engine.Prefill(3);
        Assert.Equal(expected, model.Output.SliceRows(0, 3).DownloadFloats());
    }

    [Fact]
    public void A_progress_callback_changing_the_stack_mid_capture_is_refused_and_capture_runs_again()
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var engine = new PrefillEngine(device, new BlockWiseGraphOptions { Sizes = new[] { 2, 8 } }, 8);
        var model = ModelFactory.Build(engine, ModelPresets.Tiny, QuantConfig.Unquantized);
        int layers = engine.Layers.Count;
        var progress = new Callback<CaptureProgress>(p => { if (p.Done == 1) engine.AddEager("late", (_, _) => { }, after: model.Layers[0]); });
        var e = Assert.Throws<InvalidOperationException>(() => engine.Capture(progress));
        Assert.Contains("PrefillEngine.Add refused: the engine is inside Capture", e.Message);
        Assert.False(engine.IsCaptured);
        Assert.Equal(layers, engine.Layers.Count);
        Assert.True(engine.Capture().Graphs > 0);
    }

    [Fact]
    public void A_step_that_throws_propagates_unchanged_and_leaves_the_engine_usable()
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var engine = new PrefillEngine(device, new BlockWiseGraphOptions { Sizes = new[] { 2, 8 } }, 8);
        var model = ModelFactory.Build(engine, ModelPresets.Tiny, QuantConfig.Unquantized);
        var thrown = new TimeZoneNotFoundException("the application's own failure");
        bool fail = true;
        engine.AddEager("step", (_, _) => { if (fail) throw thrown; }, after: model.Layers[1]);
        engine.Capture();
        Assert.Same(thrown, Assert.Throws<TimeZoneNotFoundException>(() => engine.Prefill(3)));
        fail = false;
        engine.Prefill(3);       // not left held by the failed step
        Assert.Equal(1, engine.Listing().PrefillSteps);
    }

    [Fact]
    public async Task A_second_thread_is_refused_while_a_step_runs_instead_of_racing_it()
    {
        using var device = Device.Open(BackendPreference.Reference);
        var engine = new PrefillEngine(device, new BlockWiseGraphOptions { Sizes = new[] { 2, 8 } }, 8);
        var model = ModelFactory.Build(engine, ModelPresets.Tiny, QuantConfig.Unquantized);
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        bool hold = true;
        engine.AddEager("step", (_, _) => { if (hold) { entered.Set(); release.Wait(TimeSpan.FromSeconds(30)); } }, after: model.Layers[1]);
        var first = Task.Run(() => engine.Prefill(3));
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)), "the first step never started");
        try
        {
            var e = Assert.Throws<InvalidOperationException>(() => engine.Prefill(4));
            Assert.Contains("PrefillEngine.Prefill refused: the engine is inside Prefill on thread", e.Message);
            Assert.Contains("one thread drives one engine", e.Message);
            Assert.Contains("PrefillEngine.Dispose refused", Assert.Throws<InvalidOperationException>(() => engine.Dispose()).Message);
            Assert.Contains("PrefillEngine.Capture refused", Assert.Throws<InvalidOperationException>(() => engine.Capture()).Message);
        }
        finally
        {
            release.Set();
        }
        await first.WaitAsync(TimeSpan.FromSeconds(30));
        hold = false;
        engine.Prefill(4);
        engine.Dispose();
        Assert.Equal(0, device.AllocatedBytes);
    }

    // ----- use after the owner is gone -----

    [Fact]
    public void The_engines_stream_is_unusable_after_the_engine_is_disposed()
    {
        using var device = Device.Open(BackendPreference.Reference);
        var engine = new PrefillEngine(device, Eager, 8);
        var stream = engine.Stream;
        var tokenCount = engine.Context.TokenCount;
        engine.Dispose();
        // On the reference backend these ran on freed memory; a destroyed CUDA stream already refused them.
        Assert.Throws<ObjectDisposedException>(() => stream.Fill32Async(tokenCount, 3, 1));
        Assert.Throws<ObjectDisposedException>(() => stream.Synchronize());
        Assert.Throws<ObjectDisposedException>(() => stream.BeginCapture());
        Assert.Throws<ObjectDisposedException>(() => engine.PaddedSize(3));
    }

    [Fact]
    public void An_eager_step_does_not_run_the_applications_code_after_its_engine_is_disposed()
    {
        using var device = Device.Open(BackendPreference.Reference);
        var engine = new PrefillEngine(device, Eager, 8);
        int runs = 0;
        var step = engine.AddEager("step", (_, _) => runs++);
        engine.Prefill(2);
        Assert.Equal(1, runs);
        using var stream = device.CreateStream();
        engine.Dispose();
        var e = Assert.Throws<ObjectDisposedException>(() => step.Forward(stream, 2));
        Assert.Contains("'step'", e.Message);
        Assert.Equal(1, runs);
    }

    [Fact]
    public void A_disposed_layer_is_not_taken_in()
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var engine = new PrefillEngine(device, Eager, 8);
        var x = engine.Activation("x", DType.BF16, 64);
        var norm = new RmsNorm(engine.Context, "norm", 64, DType.BF16, 1e-6f, x, x);
        norm.Dispose();
        var e = Assert.Throws<ObjectDisposedException>(() => engine.Add(norm));
        Assert.Contains("'norm'", e.Message);
        Assert.Empty(engine.Layers);
        engine.Prefill(3);       // before, every later step failed on it
    }

    [Fact]
    public void A_pool_whose_device_is_disposed_hands_out_no_more_blocks()
    {
        var device = Device.Open(BackendPreference.Reference);
        using var pool = new DevicePool(device, 4096, 4096);
        device.Dispose();
        var e = Assert.Throws<ObjectDisposedException>(() => pool.Rent(16, "late"));
        Assert.Contains("'late'", e.Message);
        Assert.Equal(0, pool.InUseBytes);
    }

    [Theory]
    [InlineData("none")]
    [InlineData("wint8")]
    public void A_layers_quant_method_handed_out_refuses_to_run_on_freed_weights(string quant)
    {
        using var device = Device.Open(BackendPreference.Reference);
        var engine = new PrefillEngine(device, Eager, 4);
        var model = ModelFactory.Build(engine, ModelPresets.Tiny, QuantConfig.Parse(quant, "the test"));
        var linear = model.Layers.OfType<Linear>().First();
        var moe = model.Layers.OfType<Moe>().First();
        using var inBuf = device.AllocateTensor(DType.BF16, new long[] { 4, linear.InFeatures }, out var input);
        using var outBuf = device.AllocateTensor(DType.BF16, new long[] { 4, linear.OutFeatures }, out var output);
        using var countBuf = device.AllocateTensor(DType.I32, new long[] { 1 }, out var count);
        using var stream = device.CreateStream();
        var (gateUp, _) = Moe.ExpertProblems(moe.Options, 4);
        engine.Dispose();
        // Live tensors of the caller's around the method's freed weights: before, the weight-only GEMM read freed memory.
        Assert.Throws<ObjectDisposedException>(() => linear.Method.Forward(stream, input, output, 3, count.Ptr));
        Assert.Throws<ObjectDisposedException>(() => moe.GateUp.Forward(stream, gateUp));
    }

    [Fact]
    public void No_layer_is_built_on_a_disposed_engines_context_and_no_weights_leak()
    {
        using var device = Device.Open(BackendPreference.Reference);
        var engine = new PrefillEngine(device, Eager, 4);
        var ctx = engine.Context;
        engine.Dispose();
        using var inBuf = device.AllocateTensor(DType.BF16, new long[] { 4, 64 }, out var x);
        long before = device.AllocatedBytes;
        var e = Assert.Throws<ObjectDisposedException>(
            () => Linear.Create(ctx, "late", x, x, QuantMode.WInt8, GroupSize.PerChannel, LinearWeights.Random(64, 64, 1, 0.1f)));
        Assert.Contains("'late'", e.Message);
        Assert.Throws<ObjectDisposedException>(() => new RmsNorm(ctx, "late", 64, DType.BF16, 1e-6f, x, x));
        Assert.Equal(before, device.AllocatedBytes);
    }

    [Fact]
    public void A_linear_refused_by_the_layer_base_frees_the_method_it_was_given()
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var engine = new PrefillEngine(device, Eager, 4);
        var x = engine.Activation("x", DType.BF16, 64);
        var method = LinearMethods.Create(engine.Context, DType.BF16, QuantMode.WInt8, GroupSize.PerChannel, LinearWeights.Random(64, 64, 1, 0.1f));
        long withMethod = device.AllocatedBytes;
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => new Linear(engine.Context, " ", x, x, method)).ParamName);
        Assert.True(device.AllocatedBytes < withMethod, "the refused method's weights are still allocated");
        Assert.Equal("name", RefusedWithNothingLeft<ArgumentException>(engine,
            () => Linear.Create(engine.Context, "", x, x, QuantMode.WInt8, GroupSize.PerChannel, LinearWeights.Random(64, 64, 1, 0.1f))).ParamName);
    }

    // ----- group sizes and quant settings that do not fit the layer -----

    [Theory]
    [InlineData(QuantMode.WInt4, 7, "7")]
    [InlineData(QuantMode.WInt4, 48, "48")]
    [InlineData(QuantMode.WInt4, 128, "K=64")]      // 128 does not divide K = 64
    [InlineData(QuantMode.W4A8, 128, "K=64")]
    [InlineData(QuantMode.WInt8, 128, "128")]
    [InlineData(QuantMode.W8A8, 64, "64")]
    public void A_group_size_the_linear_cannot_use_names_groupSize_and_builds_nothing(QuantMode mode, int group, string named)
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var engine = new PrefillEngine(device, Eager, 8);
        var x = engine.Activation("x", DType.BF16, 64);
        var y = engine.Activation("y", DType.BF16, 64);
        var e = RefusedWithNothingLeft<ArgumentException>(engine,
            () => Linear.Create(engine.Context, "proj", x, y, mode, GroupSize.Of(group), LinearWeights.Random(64, 64, 1, 0.1f)));
        Assert.Equal("groupSize", e.ParamName);
        Assert.Contains("'proj'", e.Message);
        Assert.Contains(named, e.Message);
    }

    [Theory]
    [InlineData(96)]
    [InlineData(7)]
    public void A_quant_config_group_that_no_layer_takes_fails_the_build_and_rolls_it_back(int group)
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var engine = new PrefillEngine(device, Eager, 8);
        // The record's constructor takes any group; Parse accepts only -1 and 128.
        var quant = new QuantConfig(QuantMode.WInt4, QuantMode.WInt4, GroupSize.Of(group), GroupSize.Of(group), QuantConfig.DefaultNvfp4Backend);
        var e = RefusedWithNothingLeft<ArgumentException>(engine, () => ModelFactory.Build(engine, ModelPresets.Tiny, quant));
        Assert.Equal("groupSize", e.ParamName);
        Assert.Contains(group.ToString(), e.Message);
        Assert.Equal(0, engine.ActivationBytes);
    }

    [Fact]
    public void A_quant_configs_nvfp4_backend_reaches_the_experts_instead_of_being_dropped()
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var engine = new PrefillEngine(device, Eager, 8);
        var quant = new QuantConfig(QuantMode.None, QuantMode.Nvfp4, null, null, "native");
        var e = RefusedWithNothingLeft<QuantConfigException>(engine, () => ModelFactory.Build(engine, ModelPresets.Tiny, quant));
        Assert.Contains("'native'", e.Message);
        Assert.Equal(0, engine.ActivationBytes);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(0f)]
    [InlineData(-1e-6f)]
    public void Rms_norm_epsilon_must_be_finite_and_positive(float eps)
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var engine = new PrefillEngine(device, Eager, 8);
        var x = engine.Activation("x", DType.BF16, 64);
        var e = RefusedWithNothingLeft<ArgumentOutOfRangeException>(engine, () => new RmsNorm(engine.Context, "norm", 64, DType.BF16, eps, x, x));
        Assert.Equal("eps", e.ParamName);
    }

    [Fact]
    public void Duplicate_captured_sizes_collapse_to_one_graph_each()
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var engine = new PrefillEngine(device, new BlockWiseGraphOptions { Sizes = new[] { 4, 4, 2, 4 } }, 8);
        Assert.Equal(new[] { 2, 4 }, engine.Sizes);
        ModelFactory.Build(engine, ModelPresets.Tiny, QuantConfig.Unquantized);
        var report = engine.Capture();
        var segments = engine.Listing().Segments;
        Assert.NotEmpty(segments);
        Assert.Equal(2 * segments.Count, report.Graphs);
        Assert.All(segments, s => Assert.Equal(new[] { 2, 4 }, s.CapturedSizes));
    }

    // ----- model helpers -----

    [Fact]
    public void Model_helpers_name_the_argument_that_is_wrong()
    {
        using var device = Device.Open(BackendPreference.Reference);
        using var engine = new PrefillEngine(device, Eager, 8);
        var e = RefusedWithNothingLeft<ArgumentException>(engine, () => ModelFactory.RandomNorm(engine.Context, "rn", default, default, null, 1));
        Assert.Equal("rn.input", e.ParamName);     // was "i": "tensor of rank 0"
        Assert.Equal("rl.input", RefusedWithNothingLeft<ArgumentException>(engine,
            () => ModelFactory.RandomLinear(engine.Context, "rl", default, default, QuantMode.None, GroupSize.PerChannel, 1)).ParamName);
        using var big = new PrefillEngine(device, Eager, ModelPresets.Tiny.MaxTokens + 1);
        Assert.Equal("engine", Assert.Throws<ArgumentException>(() => ModelFactory.Build(big, ModelPresets.Tiny, QuantConfig.Unquantized)).ParamName);
    }

    [Fact]
    public void A_preset_from_a_description_checks_its_token_counts()
    {
        var model = ModelPresets.Tiny.Model;
        Assert.Equal("maxTokens", Assert.Throws<ArgumentOutOfRangeException>(() => ModelPreset.From(model, 0, new[] { 1 })).ParamName);
        Assert.Equal("defaultTokens", Assert.Throws<ArgumentNullException>(() => ModelPreset.From(model, 8, null!)).ParamName);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ModelPreset.From(model, 8, new[] { 1, 9 }));
        Assert.Equal("defaultTokens", e.ParamName);
        Assert.Contains("defaultTokens[1] = 9", e.Message);
    }

    private sealed class Callback<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}

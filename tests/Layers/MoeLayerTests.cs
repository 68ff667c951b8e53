using GraphEngine.Conformance;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;
using GraphEngine.Layers.Methods;

namespace GraphEngine.Tests.Layers;

public class MoeLayerTests
{
    private static readonly MoeCases.Shape Small = new(Experts: 6, TopK: 2, Hidden: 64, Ffn: 32);

    /// <summary>
    /// A reference device with a layer context for 8 tokens on its own pool (no reserve, so whatever a refused
    /// layer keeps shows up as bytes in use) and bf16 input/output [8, hidden] allocated outside the pool.
    /// </summary>
    private sealed class Context8 : IDisposable
    {
        private readonly DeviceBuffer _input, _output, _count;

        public Context8(int hidden)
        {
            var device = Device = new ReferenceDevice();
            Pool = new DevicePool(device, 0);
            _input = device.AllocateTensor(DType.BF16, new long[] { 8, hidden }, out var input);
            _output = device.AllocateTensor(DType.BF16, new long[] { 8, hidden }, out var output);
            _count = device.AllocateTensor(DType.I32, new long[] { 1 }, out var n);
            (Input, Output) = (input, output);
            Context = new LayerContext(device, Pool, 8, n.Ptr);
        }

        public ReferenceDevice Device { get; }
        public DevicePool Pool { get; }
        public Tensor Input { get; }
        public Tensor Output { get; }
        public LayerContext Context { get; }

        public void Dispose()
        {
            _count.Dispose();
            _output.Dispose();
            _input.Dispose();
            Pool.Dispose();
            Device.Dispose();
        }

        /// <summary>An MoE layer "m" from <see cref="Input"/> to <see cref="Output"/> with <paramref name="options"/>.</summary>
        public GraphEngine.Layers.Moe Moe(MoeOptions options) => new(Context, "m", options, Input, Output);
    }

    [Fact]
    public void Logits_rows_are_written_once_at_construction_so_the_top_k_kernels_never_read_uninitialized_memory()
    {
        using var c = new Context8(64);
        // Pool memory a previous tenant left holding a pattern, as after a freed layer: the new layer's logits land on it.
        using (c.Pool.RentTensor(DType.F32, new long[] { 4096 }, out var stale, "stale"))
        {
            c.Device.DefaultStream.Fill32Async(stale.Ptr, 0x7FC0_0000u, stale.ElementCount);
            c.Device.DefaultStream.Synchronize();
        }
        using var layer = c.Moe(new MoeOptions(6, 2, 64, 32, RouterFp32: true));
        c.Context.LoadStream.Synchronize();
        var logits = layer.Logits.DownloadFloats();
        Assert.Equal(8 * 6, logits.Length);
        Assert.All(logits, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Oracle_bound_catches_a_three_percent_error()
    {
        using var device = new ReferenceDevice();
        var spec = new MoeCases.Spec(Small, TokenLayout.PrefixSum, QuantMode.None, GroupSize.PerChannel, 9, 16);
        using var rig = new MoeCases.Rig(device, spec);
        rig.FillInput(1, nanPadding: true);
        rig.Forward(spec.Tokens);
        var (_, expected) = MoeCases.Oracle(rig, spec.Tokens);
        var actual = rig.ValidOutput(spec.Tokens);
        Assert.True(Checks.Close("as computed", expected, actual, 1e-2, "bf16").Passed);
        var wrong = actual.Select(v => v * 1.03f).ToArray();
        Assert.False(Checks.Close("scaled by 1.03", expected, wrong, 1e-2, "bf16").Passed);
    }

    [Theory]
    [InlineData(TokenLayout.PrefixSum)]
    [InlineData(TokenLayout.Padded)]
    public void A_layer_that_fuses_swiglu_rents_no_gate_up_buffer_and_lists_no_routed_swiglu(TokenLayout layout)
    {
        var shape = new MoeCases.Shape(Experts: 4, TopK: 2, Hidden: 128, Ffn: 128);   // wi4a16 needs multiples of 128
        long InUse(QuantMode mode)
        {
            using var c = new Context8(shape.Hidden);
            using var layer = c.Moe(new MoeOptions(shape.Experts, shape.TopK, shape.Hidden, shape.Ffn, Layout: layout, Quant: mode));
            return c.Pool.InUseBytes;
        }
        // wi4a16 writes the product and runs SwiGLU after it; its expert weights and tile plan live outside the pool.
        long maxRows = layout == TokenLayout.PrefixSum ? 8 * shape.TopK : shape.Experts * 8;
        Assert.Equal(maxRows * 2 * shape.Ffn * 2, InUse(QuantMode.Wi4A16) - InUse(QuantMode.None));
        Assert.Equal(InUse(QuantMode.None), InUse(QuantMode.WInt8));

        var options = new MoeOptions(shape.Experts, shape.TopK, shape.Hidden, shape.Ffn, Layout: layout);
        Assert.Equal(GroupGemmEpilogue.SwiGlu, GraphEngine.Layers.Moe.ExpertProblems(options, 8).GateUp.Epilogue);
        Assert.DoesNotContain(GraphEngine.Layers.Moe.Variants(options, 8, DType.BF16, LaunchTarget.H200), v => v.StartsWith("moe_swiglu", StringComparison.Ordinal));
        var eager = options with { Quant = QuantMode.Wi4A16 };
        Assert.Equal(GroupGemmEpilogue.None, GraphEngine.Layers.Moe.ExpertProblems(eager, 8).GateUp.Epilogue);
        Assert.Contains(GraphEngine.Layers.Moe.Variants(eager, 8, DType.BF16, LaunchTarget.H200), v => v.StartsWith("moe_swiglu", StringComparison.Ordinal));
    }

    [Fact]
    public void Padded_token_count_between_sizes_leaves_padded_output_rows_zero()
    {
        using var device = new ReferenceDevice();
        var spec = new MoeCases.Spec(Small, TokenLayout.Padded, QuantMode.WInt8, GroupSize.PerChannel, 5, 16, SharedFfn: 16);
        using var rig = new MoeCases.Rig(device, spec);
        rig.FillInput(2, nanPadding: true);
        rig.Forward(spec.Tokens);
        var pad = rig.Output.SliceRows(spec.Tokens, spec.Padded - spec.Tokens).DownloadFloats();
        Assert.All(pad, v => Assert.Equal(0f, v));
        Assert.True(MoeCases.CheckRouting(rig, spec.Tokens).Passed);
    }

    [Fact]
    public void Bad_options_name_the_value_and_leak_nothing()
    {
        using var setup = new Context8(64);
        var (device, pool) = (setup.Device, setup.Pool);
        long before = device.AllocatedBytes;

        var e1 = Assert.Throws<ArgumentOutOfRangeException>(() => setup.Moe(new MoeOptions(4, 5, 64, 32)));
        Assert.Contains("topK", e1.Message);
        Assert.Contains("5", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => setup.Moe(new MoeOptions(4, 2, 96, 32)));
        Assert.Contains("64 columns but hidden = 96", e2.Message);
        var e3 = Assert.Throws<ArgumentException>(() =>
            setup.Moe(new MoeOptions(4, 2, 64, 32, Quant: QuantMode.WInt4, GroupSize: GroupSize.Of(128))));
        Assert.Contains("group size 128 does not divide hidden = 64", e3.Message);
        Assert.Equal(before, device.AllocatedBytes);
        Assert.Equal(0, pool.InUseBytes);
    }

    [Fact]
    public void Failure_after_workspace_is_rented_returns_everything()
    {
        using var setup = new Context8(192);
        var (device, pool) = (setup.Device, setup.Pool);
        long before = device.AllocatedBytes;
        int buffers = device.LiveAllocations;
        // 96 divides both K's, so the options pass; the int4 kernels need a multiple of 64, which the
        // method finds after the layer has rented its workspace and made its gate weights.
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            setup.Moe(new MoeOptions(4, 2, 192, 96, Quant: QuantMode.WInt4, GroupSize: GroupSize.Of(96))));
        Assert.Contains("96", e.Message);
        Assert.Equal(0, pool.InUseBytes);
        Assert.Equal(before, device.AllocatedBytes - pool.ReservedBytes);
        Assert.Equal(buffers, device.LiveAllocations - (pool.ReservedBytes > 0 ? 1 : 0));
        var odd = Assert.Throws<ArgumentException>(() =>
            setup.Moe(new MoeOptions(4, 2, 192, 45, Quant: QuantMode.WInt4)));
        Assert.Contains("45", odd.Message);
    }

    [Theory]
    [InlineData(QuantMode.W4AFp8)]
    [InlineData(QuantMode.Nvfp4)]
    public void Low_precision_modes_need_the_layer_context_for_their_workspace(QuantMode mode)
    {
        using var device = new ReferenceDevice();
        using var sb = device.AllocateTensor(DType.BF16, new long[] { 2, 8, 128 }, out var src);
        var e = Assert.Throws<ArgumentNullException>(() =>
            MoeMethods.Create(mode, device, device.DefaultStream, src, GroupSize.PerChannel, TokenLayout.PrefixSum, 16));
        Assert.Contains(mode.Label(), e.Message);
        using var pool = new DevicePool(device, 0);
        using var cb = device.AllocateTensor(DType.I32, new long[] { 1 }, out var count);
        var ctx = new LayerContext(device, pool, 16, count.Ptr);
        using var method = MoeMethods.Create(mode, device, device.DefaultStream, src, GroupSize.PerChannel, TokenLayout.PrefixSum, 16, ctx);
        Assert.Equal(mode, method.Mode);
        Assert.Equal(8, method.N);
        Assert.Equal(128, method.K);
    }

    [Fact]
    public void Wi4a16_declares_why_it_is_eager_and_capture_fails_cleanly()
    {
        using var device = new ReferenceDevice();
        var spec = new MoeCases.Spec(new MoeCases.Shape(4, 2, 128, 128), TokenLayout.PrefixSum, QuantMode.Wi4A16, GroupSize.PerChannel, 3, 4);
        using var rig = new MoeCases.Rig(device, spec);
        Assert.False(rig.Layer.Capturability.CanCapture);
        Assert.Contains("device-to-host read", rig.Layer.Capturability.Reason);
        Assert.Equal("wi4a16/g128", rig.Layer.QuantLabel);
        rig.Stream.BeginCapture();
        var ex = Assert.Throws<StreamCaptureException>(() => rig.Layer.Forward(rig.Stream, spec.Padded));
        rig.Stream.AbortCapture();
        Assert.Contains("wi4a16", ex.Message);
        rig.FillInput(4, nanPadding: true);
        rig.Forward(spec.Tokens);   // still runs eagerly afterwards
        Assert.True(MoeCases.CheckRouting(rig, spec.Tokens).Passed);
    }
}

using GraphEngine.Kernels;
using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Quant;
using GraphEngine.Layers.Methods;

namespace GraphEngine.Tests.Kernels;

/// <summary>
/// The w8a8 TMA GEMM's host side, checked without a GPU: the rule that hands a launch to int8_act_tma (int8 weights with
/// per-channel scales, sm_90, from 256 host rows) and the Linear's IMMA rule beside it (every other GPU at those rows),
/// the names the rule returns, the bench's thread-local switch, the ring against one SM's shared memory, the persistent
/// grid, and the argument checks that refuse a weight form or a tensor map the kernel cannot take.
/// </summary>
public class Int8ActTmaLauncherTests
{
    // cudaDevAttrMaxSharedMemoryPerBlockOptin on sm_90 (227 KiB).
    private const int SharedLimit = 232448;

    [Theory]
    [InlineData(256)]
    [InlineData(1024)]
    [InlineData(8192)]
    public void W8a8_from_256_rows_takes_the_tma_kernel_on_sm90_and_never_the_imma_path(int rows)
    {
        Assert.True(Int8ActGemm.TmaApplies(WeightOnlyFormat.Int8, false, rows, 9, 0));
        Assert.Equal(Int8ActGemmVariant.Tma, Int8ActGemm.ChooseVariant(rows, WeightOnlyFormat.Int8, false, 9, 0));
        Assert.False(Int8ActLinearMethod.ImmaApplies(WeightOnlyFormat.Int8, false, rows, 9, 0));
    }

    [Fact]
    public void Below_256_rows_on_sm90_the_mma_sync_tiles_stay()
    {
        Assert.False(Int8ActGemm.TmaApplies(WeightOnlyFormat.Int8, false, Int8ActGemm.TmaMinRows - 1, 9, 0));
        Assert.Equal(Int8ActGemmVariant.Large, Int8ActGemm.ChooseVariant(255, WeightOnlyFormat.Int8, false, 9, 0));
        Assert.Equal(Int8ActGemmVariant.Small, Int8ActGemm.ChooseVariant(17, WeightOnlyFormat.Int8, false, 9, 0));
        Assert.False(Int8ActLinearMethod.ImmaApplies(WeightOnlyFormat.Int8, false, 255, 9, 0));
    }

    [Theory]
    [InlineData(WeightOnlyFormat.Int8, false, 9, 0)]
    [InlineData(WeightOnlyFormat.Int4, false, 9, 0)]
    [InlineData(WeightOnlyFormat.Int4, true, 8, 0)]
    [InlineData(WeightOnlyFormat.Int8, false, 12, 0)]
    public void Up_to_16_rows_every_format_streams_its_weights_on_every_int8_gpu(WeightOnlyFormat format, bool grouped, int major, int minor)
    {
        foreach (int rows in new[] { 1, 7, Int8ActGemm.StreamNarrowMaxRows })
            Assert.Equal(Int8ActGemmVariant.StreamNarrow, Int8ActGemm.ChooseVariant(rows, format, grouped, major, minor));
        foreach (int rows in new[] { Int8ActGemm.StreamNarrowMaxRows + 1, Int8ActGemm.StreamMaxRows })
            Assert.Equal(Int8ActGemmVariant.Stream, Int8ActGemm.ChooseVariant(rows, format, grouped, major, minor));
        Assert.Equal(Int8ActGemmVariant.Small, Int8ActGemm.ChooseVariant(Int8ActGemm.StreamMaxRows + 1, format, grouped, major, minor));
        Assert.Contains(Int8ActGemmVariant.Stream, Int8ActGemm.VariantsFor(format, grouped, major, minor));
        Assert.Contains(Int8ActGemmVariant.StreamNarrow, Int8ActGemm.VariantsFor(format, grouped, major, minor));
        // The experts' group GEMM keeps the two tiles: its rule is the rows-only one.
        Assert.Equal(Int8ActGemmVariant.Small, Int8ActGemm.ChooseVariant(1));
        Assert.DoesNotContain(Int8ActGemmVariant.Stream, Int8ActGemm.Variants);
        Assert.DoesNotContain(Int8ActGemmVariant.StreamNarrow, Int8ActGemm.Variants);
    }

    [Fact]
    public void Grouped_streaming_launches_keep_their_sums_in_64_KiB_up_to_K_15360()
    {
        Assert.Equal(0, Int8ActGemmCuda.StreamSharedBytes(false, 131072));
        Assert.Equal(32 * 544, Int8ActGemmCuda.StreamSharedBytes(true, 4096));
        Assert.True(Int8ActGemmCuda.StreamSharedBytes(true, 15360) <= Int8ActGemmCuda.StreamMaxSharedBytes);
        Assert.True(Int8ActGemmCuda.StreamSharedBytes(true, 15360 + 128) > Int8ActGemmCuda.StreamMaxSharedBytes);
    }

    [Fact]
    public void The_streaming_kernels_are_named_with_their_token_rows_and_batch()
    {
        Assert.Equal("int8_act_stream<T, 0, 0, 16, 8>", Int8ActGemm.KernelName(Int8ActGemmVariant.Stream, WeightOnlyFormat.Int8, false));
        Assert.Equal("int8_act_stream<T, 0, 0, 8, 12>", Int8ActGemm.KernelName(Int8ActGemmVariant.StreamNarrow, WeightOnlyFormat.Int8, false));
        Assert.Equal("int8_act_stream<T, 1, 0, 16, 4>", Int8ActGemm.KernelName(Int8ActGemmVariant.Stream, WeightOnlyFormat.Int4, false));
        Assert.Equal("int8_act_stream<T, 1, 1, 8, 8>", Int8ActGemm.KernelName(Int8ActGemmVariant.StreamNarrow, WeightOnlyFormat.Int4, true));
    }

    [Theory]
    [InlineData(8, 0)]
    [InlineData(8, 9)]
    [InlineData(10, 0)]   // Blackwell has no sm_90a wgmma
    [InlineData(12, 0)]
    [InlineData(0, 0)]    // the reference backend: it runs the IMMA definition at many rows
    public void Other_gpus_keep_the_imma_path_at_many_rows(int major, int minor)
    {
        Assert.False(Int8ActGemm.TmaApplies(WeightOnlyFormat.Int8, false, 1024, major, minor));
        Assert.Equal(Int8ActGemmVariant.Large, Int8ActGemm.ChooseVariant(1024, WeightOnlyFormat.Int8, false, major, minor));
        Assert.True(Int8ActLinearMethod.ImmaApplies(WeightOnlyFormat.Int8, false, 256, major, minor));
        Assert.False(Int8ActLinearMethod.ImmaApplies(WeightOnlyFormat.Int8, false, 255, major, minor));
        Assert.DoesNotContain(Int8ActGemmVariant.Tma, Int8ActGemm.VariantsFor(WeightOnlyFormat.Int8, false, major, minor));
    }

    [Theory]
    [InlineData(WeightOnlyFormat.Int4, false)]
    [InlineData(WeightOnlyFormat.Int4, true)]
    public void W4a8_never_takes_the_tma_kernel_or_the_imma_path(WeightOnlyFormat format, bool grouped)
    {
        Assert.False(Int8ActGemm.TmaApplies(format, grouped, 4096, 9, 0));
        Assert.Equal(Int8ActGemmVariant.Large, Int8ActGemm.ChooseVariant(4096, format, grouped, 9, 0));
        Assert.False(Int8ActLinearMethod.ImmaApplies(format, grouped, 4096, 8, 9));
        Assert.Equal(new[] { Int8ActGemmVariant.StreamNarrow, Int8ActGemmVariant.Stream, Int8ActGemmVariant.Small, Int8ActGemmVariant.Large }, Int8ActGemm.VariantsFor(format, grouped, 9, 0));
    }

    [Fact]
    public void The_tma_kernel_is_named_for_w8a8_only()
    {
        Assert.Equal("int8_act_tma<T, 4>", Int8ActGemm.KernelName(Int8ActGemmVariant.Tma, WeightOnlyFormat.Int8, false));
        Assert.Equal(new[] { Int8ActGemmVariant.StreamNarrow, Int8ActGemmVariant.Stream, Int8ActGemmVariant.Small, Int8ActGemmVariant.Large, Int8ActGemmVariant.Tma },
            Int8ActGemm.VariantsFor(WeightOnlyFormat.Int8, false, 9, 0));
        var e = Assert.Throws<ArgumentException>(() => Int8ActGemm.KernelName(Int8ActGemmVariant.Tma, WeightOnlyFormat.Int4, false));
        Assert.Contains("Int4", e.Message);
        Assert.Contains("group scales", Assert.Throws<ArgumentException>(() =>
            Int8ActGemm.KernelName(Int8ActGemmVariant.Tma, WeightOnlyFormat.Int8, true)).Message);
    }

    [Fact]
    public void The_bench_switch_turns_the_tma_kernel_off_on_its_own_thread_only()
    {
        try
        {
            Int8ActGemm.TmaOff = true;
            Assert.False(Int8ActGemm.TmaApplies(WeightOnlyFormat.Int8, false, 1024, 9, 0));
            Assert.True(Int8ActLinearMethod.ImmaApplies(WeightOnlyFormat.Int8, false, 1024, 9, 0));
            bool elsewhere = false;
            var other = new Thread(() => elsewhere = Int8ActGemm.TmaApplies(WeightOnlyFormat.Int8, false, 1024, 9, 0));
            other.Start();
            other.Join();
            Assert.True(elsewhere, "another thread still takes the TMA kernel");
        }
        finally
        {
            Int8ActGemm.TmaOff = false;
        }
        Assert.True(Int8ActGemm.TmaApplies(WeightOnlyFormat.Int8, false, 1024, 9, 0));
    }

    [Fact]
    public void Four_48_kib_stages_fit_one_sm_and_a_fifth_does_not()
    {
        Assert.InRange(Int8ActGemmCuda.TmaSharedBytes(Int8ActGemmCuda.TmaStages), 1, SharedLimit);
        Assert.True(Int8ActGemmCuda.TmaSharedBytes(Int8ActGemmCuda.TmaStages + 1) > SharedLimit, "a fifth stage would fit: the ring could be deeper");
        Assert.Equal(48 * 1024, (Int8ActGemmCuda.TmaTileM + Int8ActGemmCuda.TmaTileN) * Int8ActGemmCuda.TmaTileK);
    }

    [Theory]
    [InlineData(1024, 4096, 132, 16, 128)]    // 8 M tiles x 16 column blocks: one tile per CTA, 4 SMs idle
    [InlineData(2048, 4096, 132, 16, 132)]    // 256 tiles: every SM, some walking two
    [InlineData(283, 300, 132, 2, 6)]         // M and N tails
    [InlineData(256, 257, 132, 2, 4)]         // one column past a block
    [InlineData(300, 136, 1, 1, 1)]           // one SM walks every tile
    public void The_persistent_grid_is_one_cta_per_sm_or_per_tile(int rows, int n, int sms, int columnBlocks, int ctas)
    {
        Assert.Equal(new Int8ActGemmCuda.TmaPlan(columnBlocks, ctas), Int8ActGemmCuda.PlanTma(rows, n, sms));
    }

    [Fact]
    public void A_plan_without_rows_columns_or_sms_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Int8ActGemmCuda.PlanTma(0, 4096, 132));
        Assert.Throws<ArgumentOutOfRangeException>(() => Int8ActGemmCuda.PlanTma(256, 0, 132));
        Assert.Throws<ArgumentOutOfRangeException>(() => Int8ActGemmCuda.PlanTma(256, 4096, 0));
    }

    [Fact]
    public void Int8_tensor_maps_the_tma_cannot_use_are_refused_before_the_driver()
    {
        var at = new DevicePtr(1 << 20);
        Assert.Contains("needs 128", TensorMapRefusal.Swizzled(DType.I8, at, new ulong[] { 4096, 1024 }, new uint[] { 64, 128 }));
        Assert.Contains("16 bytes", TensorMapRefusal.Swizzled(DType.I8, at, new ulong[] { 200, 1024 }, new uint[] { 128, 128 }));
        Assert.Contains("1 to 256", TensorMapRefusal.Swizzled(DType.I8, at, new ulong[] { 4096, 1024 }, new uint[] { 128, 512 }));
        Assert.Contains("BF16, F16, I8 or U8", TensorMapRefusal.Swizzled(DType.I32, at, new ulong[] { 4096, 1024 }, new uint[] { 32, 128 }));
    }

    [Fact]
    public void The_reference_backend_has_no_tma_variant_to_force()
    {
        using var device = new GraphEngine.Kernels.Reference.ReferenceDevice();
        var e = Assert.Throws<ArgumentException>(() => Int8ActGemm.Create(device, Int8ActGemmVariant.Tma));
        Assert.Contains("Tma", e.Message);
    }
}

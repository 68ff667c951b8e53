using GraphEngine.Kernels;
using GraphEngine.Kernels.Cuda;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Quant;

namespace GraphEngine.Tests.Kernels.Moe;

/// <summary>
/// The TMA group GEMM's choice and its tensor maps' argument checks are host arithmetic, checked here without a GPU:
/// where the rule hands a problem to group_gemm_tma (half weights on sm_90, K a multiple of 8, from 48 rows per
/// expert), that its ring fits one SM's shared memory, and that a map the TMA could not use is refused before the
/// driver is asked to encode it.
/// </summary>
public class GroupGemmTmaLauncherTests
{
    // cudaDevAttrMaxSharedMemoryPerBlockOptin on sm_90 (227 KiB).
    private const int SharedLimit = 232448;

    private static readonly ExpertWeights Half = new(ExpertWeightFormat.Half, default, default, default, GroupSize.PerChannel);

    private static GroupGemmProblem Ernie(int rows, int k = 2560) => new(TokenLayout.PrefixSum, 64, 3072, k, rows, default, default, default);

    [Theory]
    [InlineData(12288)]   // ERNIE n = 2048: 192 rows per expert
    [InlineData(3072)]    // n = 512: 48, the first that takes it
    public void Half_weights_with_tens_of_rows_per_expert_take_the_tma_kernel_on_sm90(int rows)
    {
        var c = GroupGemmCuda.Tma(Ernie(rows), Half, 9, 0);
        Assert.Equal(new GroupGemmCuda.TmaConfig(256, 4), c);
        Assert.InRange(c!.Value.SharedBytes, 1, SharedLimit);
        Assert.StartsWith("group_gemm_tma<T, 256, 4", GroupGemm.Variant(Ernie(rows), Half, LaunchTarget.H200));
    }

    [Fact]
    public void The_tma_kernel_is_never_chosen_where_it_cannot_run_or_measured_no_faster()
    {
        Assert.Null(GroupGemmCuda.Tma(Ernie(768), Half, 9, 0));                 // n = 128: 12 rows per expert
        Assert.Null(GroupGemmCuda.Tma(Ernie(12288), Half, 8, 9));               // no TMA or wgmma before sm_90
        Assert.Null(GroupGemmCuda.Tma(Ernie(12288), Half, 10, 0));              // sm_90a instructions only
        Assert.Null(GroupGemmCuda.Tma(Ernie(12288, k: 2564), Half, 9, 0));      // rows not 16-byte multiples
        var int8 = new ExpertWeights(ExpertWeightFormat.Int8PerChannel, default, default, default, GroupSize.PerChannel);
        Assert.Null(GroupGemmCuda.Tma(Ernie(12288), int8, 9, 0));               // integer codes decode on the cp.async path
    }

    [Fact]
    public void Every_tma_configuration_the_bench_compares_fits_one_sm()
    {
        foreach (var c in new[] { new GroupGemmCuda.TmaConfig(256, 4), new GroupGemmCuda.TmaConfig(128, 6) })
            Assert.InRange(c.SharedBytes, 1, SharedLimit);
        Assert.True(new GroupGemmCuda.TmaConfig(256, 5).SharedBytes > SharedLimit, "a fifth 48 KiB stage does not fit");
    }

    [Fact]
    public void Tensor_maps_the_tma_cannot_use_are_refused_before_the_driver()
    {
        var at = new DevicePtr(1 << 20);
        Assert.Contains("rank", Assert.Throws<ArgumentException>(() =>
            TensorMap.Swizzled128(DType.BF16, at, new ulong[] { 64, 2, 2, 2 }, new uint[] { 64, 1, 1, 1 })).Message);
        Assert.Contains("BF16, F16, I8 or U8", Assert.Throws<ArgumentException>(() =>
            TensorMap.Swizzled128(DType.F32, at, new ulong[] { 64, 128 }, new uint[] { 64, 128 })).Message);
        Assert.Contains("128-byte swizzle", Assert.Throws<ArgumentException>(() =>
            TensorMap.Swizzled128(DType.BF16, at, new ulong[] { 64, 128 }, new uint[] { 32, 128 })).Message);
        Assert.Contains("16 bytes", Assert.Throws<ArgumentException>(() =>
            TensorMap.Swizzled128(DType.F16, at, new ulong[] { 60, 128 }, new uint[] { 64, 128 })).Message);
        Assert.Contains("16-byte aligned", Assert.Throws<ArgumentException>(() =>
            TensorMap.Swizzled128(DType.BF16, new DevicePtr((1 << 20) + 8), new ulong[] { 64, 128 }, new uint[] { 64, 128 })).Message);
    }
}

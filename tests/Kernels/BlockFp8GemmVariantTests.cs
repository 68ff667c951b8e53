using GraphEngine.Kernels.Gemm;

namespace GraphEngine.Tests.Kernels;

/// <summary>
/// The block_fp8 launcher's variant rule is host arithmetic: wgmma on sm_90 (Hopper), mma.sync on every
/// other fp8 GPU, never anything a GPU cannot run, and the set conformance enumerates is exactly what the
/// rule can return.
/// </summary>
public class BlockFp8GemmVariantTests
{
    public static TheoryData<int, int, int> Shapes() => new()
    {
        { 1, 136, 256 }, { 7, 7168, 7168 }, { 83, 4096, 7168 }, { 4096, 7168, 4096 }, { 0, 128, 128 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Hopper_runs_wgmma_and_other_fp8_gpus_mma_sync(int rows, int n, int kp)
    {
        Assert.Equal(BlockFp8GemmVariant.Wgmma, BlockFp8Gemm.ChooseVariant(9, 0, rows, n, kp));
        foreach (var (major, minor) in new[] { (8, 9), (10, 0), (12, 0) })
            Assert.Equal(BlockFp8GemmVariant.MmaSync, BlockFp8Gemm.ChooseVariant(major, minor, rows, n, kp));
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void The_pick_is_choosable_and_supported(int rows, int n, int kp)
    {
        foreach (var (major, minor) in new[] { (8, 9), (9, 0), (10, 0), (12, 0) })
        {
            var v = BlockFp8Gemm.ChooseVariant(major, minor, rows, n, kp);
            Assert.Contains(v, BlockFp8Gemm.ChoosableVariants(major, minor));
            Assert.Contains(v, BlockFp8Gemm.SupportedVariants(major, minor));
        }
    }

    [Fact]
    public void Hopper_supports_both_variants_and_older_fp8_gpus_only_mma_sync()
    {
        Assert.Equal(new[] { BlockFp8GemmVariant.Wgmma, BlockFp8GemmVariant.MmaSync }, BlockFp8Gemm.SupportedVariants(9, 0));
        Assert.Equal(new[] { BlockFp8GemmVariant.MmaSync }, BlockFp8Gemm.SupportedVariants(8, 9));
        Assert.Equal(new[] { BlockFp8GemmVariant.MmaSync }, BlockFp8Gemm.SupportedVariants(10, 0));
    }

    [Theory]
    [InlineData(8, 0)]
    [InlineData(8, 6)]
    public void Gpus_without_fp8_mma_have_no_variant(int major, int minor)
    {
        Assert.Empty(BlockFp8Gemm.SupportedVariants(major, minor));
        Assert.Empty(BlockFp8Gemm.ChoosableVariants(major, minor));
        Assert.Throws<NotSupportedException>(() => BlockFp8Gemm.ChooseVariant(major, minor, 16, 128, 128));
    }

    [Fact]
    public void The_reference_backend_refuses_a_variant()
    {
        using var device = new ReferenceDevice();
        Assert.Throws<ArgumentException>(() => BlockFp8Gemm.Create(device, BlockFp8GemmVariant.MmaSync));
        Assert.NotNull(BlockFp8Gemm.Create(device));
    }
}

using GraphEngine.Kernels;
using GraphEngine.Kernels.Moe;
using Xunit;

namespace GraphEngine.Tests.Kernels.Moe;

/// <summary>Host-side launch shapes of the row-wise MoE kernels and the router's load width.</summary>
public class MoeLaunchShapeTests
{
    [Theory]
    [InlineData(1, 2560, 132, 10u)]     // one token: split as far as one column per thread
    [InlineData(6, 1536, 132, 6u)]      // six permuted rows of a 1536-wide SwiGLU: 256 columns each
    [InlineData(128, 2560, 132, 3u)]    // about two blocks per SM
    [InlineData(2048, 2560, 132, 1u)]   // many rows: one block per row
    [InlineData(1, 100, 132, 1u)]       // narrower than one block
    public void Column_split_fills_the_SMs_only_when_rows_are_few(int rows, int width, int sms, uint expected) =>
        Assert.Equal(expected, MoePermuteCuda.ColumnSplit(rows, width, sms));

    [Theory]
    [InlineData(DType.BF16, 2560, 0x1000UL, 0x2000UL, true)]
    [InlineData(DType.F16, 2560, 0x1008UL, 0x2000UL, true)]
    [InlineData(DType.BF16, 2562, 0x1000UL, 0x2000UL, false)]   // rows not a multiple of 4 values
    [InlineData(DType.BF16, 2560, 0x1004UL, 0x2000UL, false)]   // activations only 4-byte aligned
    [InlineData(DType.BF16, 2560, 0x1000UL, 0x2008UL, false)]   // weights not 16-byte aligned
    [InlineData(DType.F32, 2560, 0x1000UL, 0x2000UL, false)]    // the 4-wide load is for 16-bit activations
    public void Router_reads_four_values_only_where_alignment_allows(DType activation, int hidden, ulong x, ulong w, bool expected) =>
        Assert.Equal(expected, MoeRoutingCuda.RouterVectorized(activation, hidden, x, w));
}

using GraphEngine.Kernels.Profiling;

namespace GraphEngine.Tests.Kernels.Profiling;

public sealed class KernelFamiliesTests
{
    [Theory]
    [InlineData("_Z8rms_normI13__nv_bfloat16EvPKT_S3_PS1_ii", "norm")]
    [InlineData("fused_rms_norm_quant_fp8", "norm")]
    [InlineData("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64", "gemm")]
    [InlineData("nvjet_hsh_128x256_64x4_2x1_v_bz_coopA_NTN", "gemm")]
    [InlineData("cutlass::Kernel2<cutlass_80_tensorop_s1688gemm>", "gemm")]
    [InlineData("cublasLt::splitKreduce_kernel", "gemm")]
    [InlineData("block_fp8_gemm_kernel", "gemm")]
    [InlineData("w4afp8_group_gemm<128, 64>", "moe-gemm")]
    [InlineData("moe_routing_topk_softmax", "moe-routing")]
    [InlineData("moe_permute_tokens", "moe-routing")]
    [InlineData("void moe_router_tiled<__nv_bfloat16, 64>(const T1 *, const float *, float *, const int *, int, int, int, int, const float *, int *, float *, int, int, float, int)", "moe-routing")]
    [InlineData("void moe_router_fp32<__nv_bfloat16>(const T1 *, const float *, float *, const int *, int, int, int, int)", "moe-routing")]
    [InlineData("void moe_topk_assign<float>(const T1 *, const float *, int *, float *, int *, int *, int *, int *, const int *, int, int, int, int, float, int, int)", "moe-routing")]
    [InlineData("moe_assign", "moe-routing")]
    [InlineData("expert_combine", "moe-routing")]
    [InlineData("scatter_rows", "moe-routing")]
    [InlineData("per_token_quant_int8", "quant")]
    [InlineData("cast_to_fp8_e4m3", "quant")]
    [InlineData("memcpy HtoD", "memcpy")]
    [InlineData("memset", "memset")]
    [InlineData("flash_attention_fwd", "other")]
    [InlineData("", "other")]
    public void Names_map_to_their_family(string name, string family) =>
        Assert.Equal(family, KernelFamilies.Classify(name));

    [Fact]
    public void Matching_ignores_case() => Assert.Equal("norm", KernelFamilies.Default("RMS_Norm_Kernel"));
}

using System.Text.RegularExpressions;
using GraphEngine.Conformance;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Tests.Conformance;

/// <summary>
/// check's warm-up compiles the kernels the selected cases declare before they run. What it requests is host
/// arithmetic over the variant declarations, so it is checked here: every request names an existing native/ file and
/// a concrete instance of a template defined in it, and every variant a case declares on the H200 is requested.
/// </summary>
public class KernelWarmupTests
{
    private static readonly IReadOnlyList<KernelRequest> FullSuite = KernelWarmup.Requests(ConformanceSuite.All, LaunchTarget.H200);

    [Fact]
    public void Every_request_is_a_concrete_instance_of_a_kernel_its_source_defines()
    {
        Assert.NotEmpty(FullSuite);
        Assert.Equal(FullSuite.Count, FullSuite.Select(r => (r.SourceFile, r.KernelName)).Distinct().Count());
        foreach (var r in FullSuite)
        {
            Assert.True(KernelCompiler.EmbeddedSources.TryGetValue(r.SourceFile, out var source), $"{r.KernelName}: no native/{r.SourceFile}");
            Assert.DoesNotContain("<T", r.KernelName, StringComparison.Ordinal);
            Assert.DoesNotContain(", R,", r.KernelName, StringComparison.Ordinal);   // RMSNorm's residual placeholder
            Assert.DoesNotContain(", R>", r.KernelName, StringComparison.Ordinal);
            Assert.DoesNotContain(" + ", r.KernelName, StringComparison.Ordinal);
            string template = r.KernelName.Split('<')[0];
            Assert.Matches(new Regex($@"__global__ void(\s+__launch_bounds__\([^)]*\))?\s+{Regex.Escape(template)}\s*\("), source!);
        }
    }

    [Fact]
    public void Every_variant_a_case_declares_on_the_target_is_requested_for_both_16_bit_types()
    {
        var requested = FullSuite.Select(r => r.KernelName).ToHashSet(StringComparer.Ordinal);
        var selectable = KernelVariants.Selectable(LaunchTarget.H200).Select(v => v.Name).ToHashSet(StringComparer.Ordinal);
        int declared = 0;
        foreach (var c in ConformanceSuite.All)
            foreach (var v in c.VariantsOn(LaunchTarget.H200).Where(selectable.Contains))
            {
                declared++;
                foreach (var type in new[] { "__nv_bfloat16", "__half" })
                {
                    string typed = KernelWarmup.Instance(v).Replace("<T", "<" + type, StringComparison.Ordinal);
                    if (typed.Contains(", R", StringComparison.Ordinal))
                        foreach (var flag in new[] { "true", "false" })
                            Assert.Contains(typed.Replace(", R,", $", {flag},").Replace(", R>", $", {flag}>"), requested);
                    else
                        Assert.Contains(typed, requested);
                }
            }
        Assert.True(declared > 100, $"{declared} declared variants");
    }

    [Theory]
    [InlineData("moe_router_tiled<T, 64>, top-k fused, 4-wide loads", "moe_router_tiled<T, 64>")]
    [InlineData("wo_dequantize<T, true, 128> + cuBLASLt", "wo_dequantize<T, true, 128>")]
    [InlineData("group_gemm<T, 0, 16, 128>", "group_gemm<T, 0, 16, 128>")]
    [InlineData("moe_assign", "moe_assign")]
    public void A_request_names_the_instance_without_the_variants_description(string variant, string instance) =>
        Assert.Equal(instance, KernelWarmup.Instance(variant));

    [Fact]
    public void Rms_norm_variants_are_requested_with_and_without_the_residual()
    {
        var names = KernelWarmup.Instances("rms_norm<T, 8, 1, R, true>").ToArray();
        Assert.Equal(new[]
        {
            "rms_norm<__nv_bfloat16, 8, 1, true, true>", "rms_norm<__nv_bfloat16, 8, 1, false, true>",
            "rms_norm<__half, 8, 1, true, true>", "rms_norm<__half, 8, 1, false, true>",
        }, names);
        Assert.Equal(new[] { "rms_norm_long<__half, 2, true>", "rms_norm_long<__half, 2, false>" },
            KernelWarmup.Instances("rms_norm_long<__half, 2, R>").ToArray());
        Assert.Contains(FullSuite, r => r.KernelName.StartsWith("rms_norm_long<", StringComparison.Ordinal));
        Assert.Equal(new[] { "wo_dequantize<__half, false, 0>" }, KernelWarmup.Instances("wo_dequantize<__half, false, 0> + cuBLASLt").ToArray());
    }

    [Fact]
    public void The_hopper_group_gemms_are_compiled_from_their_own_file()
    {
        Assert.Contains(FullSuite, r => r.SourceFile == "moe/group_gemm_wgmma.cu" && r.KernelName.StartsWith("group_gemm_wgmma<", StringComparison.Ordinal));
        Assert.All(FullSuite.Where(r => r.KernelName.StartsWith("group_gemm_wgmma", StringComparison.Ordinal)),
            r => Assert.Equal("moe/group_gemm_wgmma.cu", r.SourceFile));
        Assert.Equal("moe/group_gemm.cu", KernelWarmup.SourceFile("moe/group_gemm", "group_gemm_pipe<T, 1>"));
    }

    [Fact]
    public void Both_tma_group_gemms_are_compiled_from_the_tma_file()
    {
        foreach (var prefix in new[] { "group_gemm_tma<", "group_gemm_tma_int<" })
        {
            var tma = FullSuite.Where(r => r.KernelName.StartsWith(prefix, StringComparison.Ordinal)).ToArray();
            Assert.NotEmpty(tma);
            Assert.All(tma, r => Assert.Equal("moe/group_gemm_tma.cu", r.SourceFile));
        }
        // Every instance the integer rule names, for both element types, plain and fused.
        Assert.Contains(FullSuite, r => r.KernelName == "group_gemm_tma_int<__nv_bfloat16, 2, 1, 128, 4, 1>");
        Assert.Contains(FullSuite, r => r.KernelName == "group_gemm_tma_int<__half, 1, 0, 256, 4>");
    }

    [Fact]
    public void The_weight_streaming_group_gemms_are_compiled_from_their_own_file()
    {
        var stream = FullSuite.Where(r => r.KernelName.StartsWith("group_gemm_stream<", StringComparison.Ordinal)).ToArray();
        Assert.NotEmpty(stream);
        Assert.All(stream, r => Assert.Equal("moe/group_gemm_stream.cu", r.SourceFile));
    }
}

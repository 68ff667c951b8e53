namespace GraphEngine.Kernels.Profiling;

/// <summary>
/// The default kernel-name classifier for <see cref="StepTimeline"/>: maps a (possibly mangled) kernel name to the
/// family a prefill step's time is reported by. Substring rules, most specific first, case-insensitive.
/// </summary>
public static class KernelFamilies
{
    /// <summary>RMSNorm kernels (names containing rms_norm or rmsnorm), fused norm+quant included.</summary>
    public const string Norm = "norm";
    /// <summary>Dense GEMMs (gemm, cublas, cutlass, nvjet, sm90_xmma), whatever their operand types.</summary>
    public const string Gemm = "gemm";
    /// <summary>MoE routing and data movement (router, top-k, assign, permute, scatter, combine).</summary>
    public const string MoeRouting = "moe-routing";
    /// <summary>MoE group GEMMs (group_gemm, groupgemm, grouped_gemm).</summary>
    public const string MoeGemm = "moe-gemm";
    /// <summary>Quantizers and other fp8 kernels that are not GEMMs (quant, fp8).</summary>
    public const string Quant = "quant";
    /// <summary>Memory copy records.</summary>
    public const string Memcpy = "memcpy";
    /// <summary>Memory set records.</summary>
    public const string Memset = "memset";
    /// <summary>Anything no rule matches.</summary>
    public const string Other = "other";

    /// <summary><see cref="Classify"/> as a delegate, the form <see cref="StepTimeline.Analyze"/> takes.</summary>
    public static readonly Func<string, string> Default = Classify;

    // Order matters: "group_gemm" must win over "gemm", and a fused "fp8_gemm" is a GEMM whose operands happen to
    // be fp8, so GEMM rules come before the quant ones; rms_norm first so a fused norm+quant counts as the norm.
    private static readonly (string Family, string[] Needles)[] s_rules =
    [
        (Norm, ["rms_norm", "rmsnorm"]),
        (MoeGemm, ["group_gemm", "groupgemm", "grouped_gemm"]),
        (MoeRouting, ["moe_routing", "moe_router", "moe_topk", "moe_assign", "permute", "combine", "scatter"]),
        (Gemm, ["gemm", "cublas", "sm90_xmma", "cutlass", "nvjet"]),
        (Quant, ["quant", "fp8"]),
    ];

    /// <summary>The family of kernel (or record) <paramref name="name"/>: memcpy and memset records by prefix, kernels by the first matching substring rule, else <see cref="Other"/>.</summary>
    public static string Classify(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        // The tracer names copies "memcpy HtoD" and sets "memset"; a kernel's name never starts that way.
        if (name.StartsWith("memcpy", StringComparison.Ordinal)) return Memcpy;
        if (name.StartsWith("memset", StringComparison.Ordinal)) return Memset;
        foreach (var (family, needles) in s_rules)
            foreach (var needle in needles)
                if (name.Contains(needle, StringComparison.OrdinalIgnoreCase)) return family;
        return Other;
    }
}

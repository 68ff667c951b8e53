namespace GraphEngine.Kernels.Profiling;

/// <summary>
/// The default kernel-name classifier for <see cref="StepTimeline"/>: maps a (possibly mangled) kernel name to the
/// family a prefill step's time is reported by. Substring rules, most specific first, case-insensitive.
/// </summary>
public static class KernelFamilies
{
    public const string Norm = "norm";
    public const string Gemm = "gemm";
    public const string MoeRouting = "moe-routing";
    public const string MoeGemm = "moe-gemm";
    public const string Quant = "quant";
    public const string Memcpy = "memcpy";
    public const string Memset = "memset";
    public const string Other = "other";

    /// <summary><see cref="Classify"/> as a delegate, the form <see cref="StepTimeline.Analyze"/> takes.</summary>
    public static readonly Func<string, string> Default = Classify;

    // Order matters: "group_gemm" must win over "gemm", and a fused "fp8_gemm" is a GEMM whose operands happen to
    // be fp8, so GEMM rules come before the quant ones; rms_norm first so a fused norm+quant counts as the norm.
    private static readonly (string Family, string[] Needles)[] s_rules =
    [
        (Norm, ["rms_norm", "rmsnorm"]),
        (MoeGemm, ["group_gemm", "groupgemm", "grouped_gemm"]),
        (MoeRouting, ["moe_routing", "permute", "combine", "scatter"]),
        (Gemm, ["gemm", "cublas", "sm90_xmma", "cutlass", "nvjet"]),
        (Quant, ["quant", "fp8"]),
    ];

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

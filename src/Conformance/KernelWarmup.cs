using System.Diagnostics;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Conformance;

/// <summary>
/// Compiles, before the first case runs, every kernel variant the selected cases declare (<see cref="ConformanceCase.Variants"/>),
/// all at once on the compiler's parallel slots. The cases run one after another, so without it each case compiles its
/// kernels on first use, one at a time: most of a cold full check (84 s of 158 s on the H200 at 215f519, 230 kernels).
/// A warm-up only fills the compiler's disk cache: every case still fetches its kernels as before, so a name guessed
/// wrong here (a variant's element type the case does not use, a variant another architecture's rule names) costs
/// compile time and nothing else, and a failed compile is reported by the case that needs the kernel, not here.
/// </summary>
public static class KernelWarmup
{
    /// <summary>The element types a variant's T placeholder may stand for in a case.</summary>
    private static readonly string[] ElementTypes = { "__nv_bfloat16", "__half" };

    /// <summary>What a warm-up compiled and how long it took.</summary>
    /// <param name="Kernels">Kernel instances requested.</param>
    /// <param name="Seconds">Wall time of the parallel compile.</param>
    /// <param name="FirstError">The first compile error in request order, or null.</param>
    public sealed record Result(int Kernels, double Seconds, string? FirstError);

    /// <summary>
    /// The (source file, kernel instance) pairs the cases' declared variants stand for on <paramref name="target"/>:
    /// each variant with T replaced by each 16-bit element type, in the source file of its family.
    /// </summary>
    public static IReadOnlyList<KernelRequest> Requests(IEnumerable<ConformanceCase> cases, LaunchTarget target)
    {
        var family = KernelVariants.Selectable(target).GroupBy(v => v.Name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First().Family, StringComparer.Ordinal);
        var seen = new HashSet<(string, string)>();
        var requests = new List<KernelRequest>();
        foreach (var c in cases)
            foreach (var variant in c.VariantsOn(target))
            {
                if (!family.TryGetValue(variant, out var f)) continue;   // not this target's pick: left to the case
                string source = SourceFile(f, variant);
                foreach (var name in Instances(variant))
                    if (seen.Add((source, name))) requests.Add(new KernelRequest(source, name, Array.Empty<KernelDefine>()));
            }
        return requests;
    }

    /// <summary>
    /// The kernel instance a variant names: up to its template's closing '&gt;' or, untemplated, its first top-level comma
    /// (names may go on, as "moe_router_fp32&lt;T&gt;, 4-wide loads" or "wo_dequantize&lt;T, true, 128&gt; + cuBLASLt", which
    /// NVRTC cannot instantiate).
    /// </summary>
    internal static string Instance(string variant)
    {
        int depth = 0;
        for (int i = 0; i < variant.Length; i++)
        {
            if (variant[i] == '<') depth++;
            else if (variant[i] == '>' && --depth == 0) return variant[..(i + 1)];
            else if (variant[i] == ',' && depth == 0) return variant[..i];
        }
        return variant;
    }

    /// <summary>
    /// The kernel instances a variant name stands for: its T placeholder replaced by each 16-bit element type, and
    /// RMSNorm's residual placeholder R (a template argument of its own) by true and false, of the <see cref="Instance"/>
    /// it names.
    /// </summary>
    internal static IEnumerable<string> Instances(string variant)
    {
        variant = Instance(variant);
        var typed = variant.Contains("<T", StringComparison.Ordinal)
            ? ElementTypes.Select(t => variant.Replace("<T", "<" + t, StringComparison.Ordinal))
            : new[] { variant };
        foreach (var name in typed)
        {
            if (!name.Contains(", R,", StringComparison.Ordinal) && !name.Contains(", R>", StringComparison.Ordinal))
            {
                yield return name;
                continue;
            }
            foreach (var flag in new[] { "true", "false" })
                yield return name.Replace(", R,", $", {flag},", StringComparison.Ordinal).Replace(", R>", $", {flag}>", StringComparison.Ordinal);
        }
    }

    /// <summary>native/ file of a variant: its family's, except the Hopper (cp.async and TMA) and the weight-streaming group GEMMs
    /// and the int8-activation TMA and streaming GEMMs, which have their own files.</summary>
    internal static string SourceFile(string family, string variant) =>
        family == "gemm/int8_act_gemm"
            ? (variant.StartsWith("int8_act_tma", StringComparison.Ordinal) ? "gemm/int8_act_tma.cu"
                : variant.StartsWith("int8_act_stream", StringComparison.Ordinal) ? "gemm/int8_act_stream.cu" : family + ".cu")
        : family != "moe/group_gemm" ? family + ".cu"
        : variant.StartsWith("group_gemm_wgmma", StringComparison.Ordinal) ? "moe/group_gemm_wgmma.cu"
        : variant.StartsWith("group_gemm_stream", StringComparison.Ordinal) ? "moe/group_gemm_stream.cu"
        : variant.StartsWith("group_gemm_tma", StringComparison.Ordinal) ? "moe/group_gemm_tma.cu"
        : family + ".cu";

    /// <summary>Compiles <see cref="Requests"/> for <paramref name="cases"/> on <paramref name="device"/>'s compiler.</summary>
    public static Result Compile(CudaDevice device, IEnumerable<ConformanceCase> cases)
    {
        ArgumentNullException.ThrowIfNull(device);
        var info = device.Info;
        var target = LaunchTarget.H200 with { ComputeMajor = info.ComputeMajor, ComputeMinor = info.ComputeMinor, SmCount = info.SmCount };
        var requests = Requests(cases, target);
        var sw = Stopwatch.StartNew();
        string? error = null;
        try
        {
            device.Compiler.CompileAll(requests);
        }
        catch (Exception e) when (e is NvrtcException or CudaException)
        {
            error = e.Message.Split('\n')[0];
        }
        return new Result(requests.Count, sw.Elapsed.TotalSeconds, error);
    }
}

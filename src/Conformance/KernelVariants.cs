using System.Collections.Concurrent;
using GraphEngine.Kernels;
using GraphEngine.Kernels.Gemm;
using GraphEngine.Kernels.Moe;
using GraphEngine.Kernels.Norm;

namespace GraphEngine.Conformance;

/// <summary>A launcher whose kernel choice depends on the shape or the GPU, and every name its rule can return on a target.</summary>
public sealed record VariantFamily(string Family, Func<LaunchTarget, IReadOnlyList<string>> Selectable);

/// <summary>One variant of <see cref="KernelVariants.Table"/>: who selects it, which cases reach it on the target.</summary>
/// <param name="Name">The kernel template instance, T for the element type.</param>
/// <param name="Family">The launcher.</param>
/// <param name="OnTarget">True when the rule can select it on the target (false: only other architectures' rules do).</param>
/// <param name="Architectures">Every architecture of <see cref="LaunchTarget.Architectures"/> whose rule can select it.</param>
/// <param name="Cases">The cases that run it on the target, in suite order.</param>
public sealed record VariantRow(string Name, string Family, bool OnTarget, IReadOnlyList<string> Architectures, IReadOnlyList<string> Cases);

/// <summary>
/// Which kernel each conformance case runs: every launcher with a choice (tile configuration, row regime,
/// architecture path) names it as a pure function of the host-side shape and a <see cref="LaunchTarget"/>, the
/// cases declare theirs from their shapes, and <see cref="Table"/> joins the two, so a variant no case reaches
/// shows up (check --list prints it; a test requires none on the H200).
/// </summary>
public static class KernelVariants
{
    /// <summary>The launchers with a choice. Single-kernel launchers (top-k softmax, assign, scatter, the quantizers and
    /// format conversions) are not listed: every case of their family runs their one kernel.</summary>
    public static IReadOnlyList<VariantFamily> Families { get; } = new VariantFamily[]
    {
        new("norm/rms_norm", RmsNormKernel.Variants),
        new("gemm/dense_gemv", GraphEngine.Kernels.Gemm.Gemm.Variants),
        new("gemm/weight_only_gemm", WeightOnlyGemm.Variants),
        new("gemm/block_fp8_gemm", t => BlockFp8Gemm.ChoosableVariants(t.ComputeMajor, t.ComputeMinor).Select(BlockFp8Gemm.KernelName).ToArray()),
        new("gemm/int8_act_gemm", LowPrecisionCases.Int8ActSelectable),
        new("gemm/int8_scale_epilogue", LowPrecisionCases.Int8EpilogueSelectable),
        new("moe/int8_act_group_gemm", LowPrecisionCases.Int8GroupSelectable),
        new("moe/group_gemm", GroupGemm.Variants),
        new("moe/w4afp8_group_gemm", _ => W4AFp8GroupGemm.Variants),
        new("moe/nvfp4_group_gemm", _ => Nvfp4GroupGemm.Variants),
        new("moe/wi4a16_group_gemm", _ => Wi4A16GroupGemm.Variants),
        new("moe/moe_routing", _ => MoeRouting.RouterVariants),
        new("moe/moe_permute", MoePermute.Variants),
    };

    private static readonly ConcurrentDictionary<(string, LaunchTarget), IReadOnlyList<string>> s_selectable = new();

    private static IReadOnlyList<string> SelectableBy(VariantFamily f, LaunchTarget target) =>
        s_selectable.GetOrAdd((f.Family, target), _ => f.Selectable(target));

    /// <summary>Every variant the rules can select on <paramref name="target"/>, with its family.</summary>
    public static IReadOnlyList<(string Family, string Name)> Selectable(LaunchTarget target) =>
        Families.SelectMany(f => SelectableBy(f, target).Select(v => (f.Family, v))).ToArray();

    /// <summary>
    /// Every variant any architecture of <see cref="LaunchTarget.Architectures"/> can select (with
    /// <paramref name="target"/>'s SMs and shared memory), whether <paramref name="target"/>'s rule can, and the cases
    /// of <paramref name="cases"/> that reach it on <paramref name="target"/>: target variants first, by family.
    /// </summary>
    public static IReadOnlyList<VariantRow> Table(LaunchTarget target, IEnumerable<ConformanceCase> cases)
    {
        var reached = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var c in cases)
            foreach (var v in c.VariantsOn(target))
            {
                if (!reached.TryGetValue(v, out var list)) reached[v] = list = new List<string>();
                list.Add(c.Name);
            }
        var rows = new List<VariantRow>();
        foreach (var f in Families)
        {
            var onTarget = new HashSet<string>(SelectableBy(f, target), StringComparer.Ordinal);
            var archs = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
            foreach (var (major, minor) in LaunchTarget.Architectures)
            {
                var t = target.WithArchitecture(major, minor);
                foreach (var v in SelectableBy(f, t))
                {
                    if (!archs.TryGetValue(v, out var list)) archs[v] = list = new List<string>();
                    list.Add(t.Architecture);
                }
            }
            foreach (var v in onTarget) if (!archs.ContainsKey(v)) archs[v] = new List<string> { target.Architecture };
            rows.AddRange(archs.Select(kv => new VariantRow(kv.Key, f.Family, onTarget.Contains(kv.Key), kv.Value,
                reached.TryGetValue(kv.Key, out var cs) ? cs : Array.Empty<string>())));
        }
        return rows.OrderBy(r => r.OnTarget ? 0 : 1).ToArray();
    }

    /// <summary>Variants a case declares that no rule of any architecture can select: a declaration out of step with its launcher.</summary>
    public static IReadOnlyList<(string Case, string Variant)> Unknown(LaunchTarget target, IEnumerable<ConformanceCase> cases)
    {
        var known = new HashSet<string>(Table(target, Array.Empty<ConformanceCase>()).Select(r => r.Name), StringComparer.Ordinal);
        return cases.SelectMany(c => c.VariantsOn(target).Where(v => !known.Contains(v)).Select(v => (c.Name, v))).ToArray();
    }
}

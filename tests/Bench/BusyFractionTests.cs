using GraphEngine.Bench;
using GraphEngine.Bench.Reports;
using Xunit;

namespace GraphEngine.Tests.Bench;

/// <summary>Busy time comes from traced steps, so it is set against their wall, never the shorter untraced one.</summary>
public class BusyFractionTests
{
    [Fact]
    public void Prefill_busy_fraction_uses_the_traced_wall_when_there_is_one()
    {
        // Untraced 58 ms, traced 61 ms, busy 60.7 ms: against the untraced wall it would read 105%.
        var traced = new PrefillPoint("p", "bf16", "segment", 2048, 58.0, 60.9, 60.7, 16.4, "memory", 1, 64, 1, TracedWallMs: 61.0);
        Assert.Equal(60.7 / 61.0, traced.BusyFraction, 12);
        var old = new PrefillPoint("p", "bf16", "segment", 2048, 58.0, 60.9, 52.2, 16.4, "memory", 1, 64, 1);
        Assert.Equal(52.2 / 58.0, old.BusyFraction, 12);
    }

    [Fact]
    public void Profile_busy_fraction_and_overhead_use_their_own_walls()
    {
        var p = new ProfilePoint("p", "bf16", "segment", 128, 10, 15.5, 16.0, 15.2, 15.9, 10.2, "memory", 413, 309, 380, 0.1, 348, null, null,
            Array.Empty<FamilyShare>(), Array.Empty<KernelShare>(), null);
        Assert.Equal(15.2 / 16.0, p.BusyFraction, 12);
        Assert.Equal(16.0 / 15.5 - 1, p.TracingOverhead, 12);
    }
}

using GraphEngine.Kernels.Profiling;

namespace GraphEngine.Tests.Kernels.Profiling;

public sealed class StepTimelineTests
{
    private static KernelRecord K(string name, ulong start, ulong end, uint stream = 7) => new(name, start, end, stream);

    // Independent oracle: mark every nanosecond covered by some record and count runs; fine for spans of a few
    // thousand ns and shares no code with the sweep in StepTimeline.
    private static (ulong Busy, List<ulong> Gaps) BruteForce(IReadOnlyList<KernelRecord> records)
    {
        ulong lo = records.Min(r => r.StartNs), hi = records.Max(r => r.EndNs);
        var covered = new bool[hi - lo];
        foreach (var r in records)
            for (ulong t = r.StartNs; t < r.EndNs; t++) covered[t - lo] = true;
        ulong busy = (ulong)covered.Count(c => c);
        var gaps = new List<ulong>();
        ulong run = 0;
        foreach (var c in covered)
        {
            if (!c) run++;
            else if (run > 0) { gaps.Add(run); run = 0; }
        }
        return (busy, gaps);
    }

    [Fact]
    public void Overlapping_kernels_on_two_streams_count_once_and_the_largest_gap_is_named()
    {
        var records = new[]
        {
            K("gemm_a", 1000, 1400, 1),
            K("rms_norm_b", 1200, 1500, 2),  // overlaps gemm_a: union 1000..1500
            K("quant_c", 1530, 1600, 1),     // gap 30
            K("moe_routing_d", 1700, 1750, 2), // gap 100 (largest)
            K("other_e", 1790, 1800, 1),     // gap 40
        };
        var t = StepTimeline.Analyze(records);
        Assert.Equal(800UL, t.SpanNs);
        Assert.Equal(500UL + 70 + 50 + 10, t.BusyNs);
        Assert.Equal(t.SpanNs - t.BusyNs, t.IdleNs);
        Assert.Equal(3, t.Gaps.Count);
        Assert.Equal(170UL, t.Gaps.TotalNs);
        Assert.Equal(40.0, t.Gaps.MedianNs);
        Assert.Equal(100UL, t.Gaps.LargestNs);
        Assert.Equal("quant_c", t.Gaps.Before);
        Assert.Equal("moe_routing_d", t.Gaps.After);
        Assert.Equal(5, t.KernelCount);
        Assert.Equal(new uint[] { 1, 2 }, t.Streams);
    }

    [Fact]
    public void Nested_interval_adds_nothing_and_the_outer_kernel_is_before_the_gap()
    {
        var records = new[] { K("outer", 0, 1000, 1), K("inner", 100, 200, 2), K("next", 1300, 1400, 1) };
        var t = StepTimeline.Analyze(records);
        Assert.Equal(1100UL, t.BusyNs);
        Assert.Equal(1, t.Gaps.Count);
        Assert.Equal(300UL, t.Gaps.LargestNs);
        Assert.Equal("outer", t.Gaps.Before);
        Assert.Equal("next", t.Gaps.After);
    }

    [Fact]
    public void Back_to_back_kernels_leave_no_gap()
    {
        var t = StepTimeline.Analyze(new[] { K("a", 10, 20), K("b", 20, 35), K("c", 35, 36) });
        Assert.Equal(26UL, t.SpanNs);
        Assert.Equal(26UL, t.BusyNs);
        Assert.Equal(1.0, t.BusyShare);
        Assert.Equal(0, t.Gaps.Count);
        Assert.Equal(0UL, t.Gaps.LargestNs);
        Assert.Null(t.Gaps.Before);
        Assert.Null(t.Gaps.After);
        Assert.Single(t.BusyIntervals);
    }

    [Fact]
    public void A_kernel_started_under_its_predecessor_on_one_stream_owns_only_the_time_past_it()
    {
        // Programmatic dependent launch: the down GEMM starts while gate/up runs and waits; on another stream a copy
        // really overlaps and keeps its whole duration.
        var records = new[]
        {
            K("group_gemm_stream_gate_up", 1000, 1400, 1),
            K("group_gemm_stream_down", 1100, 1650, 1),
            K("moe_combine", 1600, 1700, 1),
            K("rms_norm_side", 1200, 1300, 2),
        };
        var t = StepTimeline.Analyze(records);
        var own = t.Records.Select((r, i) => (r.Name, t.ExclusiveNs[i])).ToDictionary(x => x.Name, x => x.Item2);
        Assert.Equal(400UL, own["group_gemm_stream_gate_up"]);
        Assert.Equal(250UL, own["group_gemm_stream_down"]);
        Assert.Equal(50UL, own["moe_combine"]);
        Assert.Equal(100UL, own["rms_norm_side"]);
        Assert.Equal(700UL, t.BusyNs);
        Assert.Equal(800UL, t.Families.Aggregate(0UL, (s, f) => s + f.TotalNs));
    }

    [Fact]
    public void One_kernel_is_all_busy()
    {
        var t = StepTimeline.Analyze(new[] { K("_Z8rms_normIfEvPT_", 5000, 5123) });
        Assert.Equal(123UL, t.SpanNs);
        Assert.Equal(123UL, t.BusyNs);
        Assert.Equal(0, t.Gaps.Count);
        var f = Assert.Single(t.Families);
        Assert.Equal(("norm", 1, 123UL, 1.0), (f.Family, f.Count, f.TotalNs, f.Share));
    }

    [Fact]
    public void Empty_list_and_reversed_record_are_rejected()
    {
        var e = Assert.Throws<ArgumentException>(() => StepTimeline.Analyze(Array.Empty<KernelRecord>()));
        Assert.Contains("at least one record", e.Message);
        var r = Assert.Throws<ArgumentException>(() => StepTimeline.Analyze(new[] { K("bad", 50, 40) }));
        Assert.Contains("'bad'", r.Message);
    }

    [Fact]
    public void Unsorted_input_gives_the_same_answer_as_sorted()
    {
        var sorted = new[] { K("a", 0, 10), K("b", 30, 45), K("c", 40, 60), K("d", 100, 101) };
        var shuffled = new[] { sorted[2], sorted[3], sorted[0], sorted[1] };
        var t = StepTimeline.Analyze(shuffled);
        Assert.Equal(sorted, t.Records);
        Assert.Equal(10UL + 30 + 1, t.BusyNs);
        Assert.Equal(2, t.Gaps.Count);
        Assert.Equal(30.0, t.Gaps.MedianNs); // gaps 20 and 40
        Assert.Equal(("c", "d"), (t.Gaps.Before, t.Gaps.After));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 2)]
    [InlineData(83, 3)]
    [InlineData(199, 4)]
    public void Random_traces_match_a_per_nanosecond_oracle(int count, int seed)
    {
        var rng = new Random(seed);
        var records = Enumerable.Range(0, count).Select(i =>
        {
            ulong s = (ulong)rng.Next(0, 4000);
            return K($"k{i}", s, s + (ulong)rng.Next(1, 60), (uint)rng.Next(1, 4));
        }).ToArray();
        var t = StepTimeline.Analyze(records);
        var (busy, gaps) = BruteForce(records);
        Assert.Equal(busy, t.BusyNs);
        Assert.Equal(gaps.Count, t.Gaps.Count);
        Assert.Equal(gaps.Aggregate(0UL, (a, b) => a + b), t.Gaps.TotalNs);
        Assert.Equal(gaps.DefaultIfEmpty(0UL).Max(), t.Gaps.LargestNs);
        var ordered = gaps.Order().ToArray();
        if (ordered.Length > 0)
        {
            double median = ordered.Length % 2 == 1
                ? ordered[ordered.Length / 2]
                : (ordered[ordered.Length / 2 - 1] + (double)ordered[ordered.Length / 2]) / 2;
            Assert.Equal(median, t.Gaps.MedianNs);
        }
        Assert.Equal(t.SpanNs, t.BusyNs + t.Gaps.TotalNs);
        Assert.Equal(count, t.Families.Sum(f => f.Count));
        Assert.Equal(1.0, t.Families.Sum(f => f.Share), 12);
    }

    [Fact]
    public void Family_totals_use_the_callers_classifier_and_sum_durations_not_union()
    {
        var records = new[] { K("x1", 0, 100, 1), K("x2", 50, 150, 2), K("y1", 200, 230, 1) };
        var t = StepTimeline.Analyze(records, name => name[..1]);
        Assert.Equal(2, t.Families.Count);
        Assert.Equal(new FamilyTotal("x", 2, 200, 200.0 / 230), t.Families[0]);
        Assert.Equal(new FamilyTotal("y", 1, 30, 30.0 / 230), t.Families[1]);
        Assert.Equal(180UL, t.BusyNs);
    }

    [Fact]
    public void SplitAt_assigns_records_by_start_between_host_marks_and_drops_outsiders()
    {
        var trace = new[]
        {
            K("before", 5, 8), K("s0a", 10, 15), K("s0b", 18, 25), K("s1a", 20, 30), K("s1b", 29, 31),
            K("s2a", 40, 41), K("after", 50, 52),
        };
        var steps = StepTimeline.SplitAt(trace, new ulong[] { 10, 20, 40, 50 });
        Assert.Equal(3, steps.Count);
        Assert.Equal(new[] { "s0a", "s0b" }, steps[0].Select(r => r.Name));
        Assert.Equal(new[] { "s1a", "s1b" }, steps[1].Select(r => r.Name));
        Assert.Equal(new[] { "s2a" }, steps[2].Select(r => r.Name));
        Assert.Throws<ArgumentException>(() => StepTimeline.SplitAt(trace, new ulong[] { 10 }));
        Assert.Throws<ArgumentException>(() => StepTimeline.SplitAt(trace, new ulong[] { 10, 10 }));
    }

    [Fact]
    public void SplitByCount_groups_consecutive_records_and_rejects_a_remainder()
    {
        var trace = Enumerable.Range(0, 9).Select(i => K($"k{i}", (ulong)(100 - i * 10), (ulong)(105 - i * 10))).ToArray();
        var steps = StepTimeline.SplitByCount(trace, 3);
        Assert.Equal(3, steps.Count);
        Assert.Equal(new[] { "k8", "k7", "k6" }, steps[0].Select(r => r.Name));
        Assert.Equal(new[] { "k2", "k1", "k0" }, steps[2].Select(r => r.Name));
        var e = Assert.Throws<ArgumentException>(() => StepTimeline.SplitByCount(trace, 4));
        Assert.Contains("1 left over", e.Message);
    }
}

using System.Text.Json;
using GraphEngine.Bench;
using GraphEngine.Bench.Reports;
using GraphEngine.Kernels.Profiling;

namespace GraphEngine.Tests.Bench;

/// <summary>The arithmetic the bench's figures rest on: floors, costs, medians, the rotation rule and the scaling guard.</summary>
public class BenchLogicTests
{
    private const long H200L2 = 60L << 20;

    private static BenchRun Run(Device device, Ceilings c)
    {
        var report = new BenchReport { Ceilings = c };
        return new BenchRun(device, report, new BenchOptions("out", false, BenchSuite.Kernels, 1, 0, "python3", null), new TorchPeers());
    }

    // ------------------------------------------------------------ floors

    [Fact]
    public void Floor_is_bytes_over_bandwidth_when_memory_binds()
    {
        using var device = Device.Open(BackendPreference.Reference);
        var run = Run(device, new Ceilings(4000, 1L << 30, 800, "bf16", "m", Fp8Tflops: 1600));
        // 4 GB at 4000 GB/s = 1 ms; 1 GFLOP at 800 TFLOP/s = 1.25 us: memory binds.
        var (ms, bound) = run.Floor(4e9, 1e9);
        Assert.Equal("memory", bound);
        Assert.Equal(1.0, ms, 12);
    }

    [Fact]
    public void Floor_is_flops_over_rate_when_compute_binds_and_uses_the_fp8_rate_for_fp8()
    {
        using var device = Device.Open(BackendPreference.Reference);
        var run = Run(device, new Ceilings(4000, 1L << 30, 800, "bf16", "m", Fp8Tflops: 1600));
        // 1.6e12 flops at 800 TFLOP/s = 2 ms, at 1600 = 1 ms; 4 MB of bytes is 1 us.
        var bf16 = run.Floor(4e6, 1.6e12);
        var fp8 = run.Floor(4e6, 1.6e12, MatrixRate.Fp8);
        Assert.Equal(("compute", 2.0), (bf16.Bound, Math.Round(bf16.Ms, 12)));
        Assert.Equal(("compute", 1.0), (fp8.Bound, Math.Round(fp8.Ms, 12)));
    }

    [Fact]
    public void Floor_falls_back_to_memory_when_a_rate_is_not_measured()
    {
        using var device = Device.Open(BackendPreference.Reference);
        var run = Run(device, new Ceilings(4000, 1L << 30, 800, "bf16", "m")); // fp8 rate NaN
        var (ms, bound) = run.Floor(4e9, 1e18, MatrixRate.Fp8);
        Assert.Equal("memory", bound);
        Assert.Equal(1.0, ms, 12);
    }

    // ------------------------------------------------------------ costs

    [Fact]
    public void RmsNorm_cost_reads_x_writes_y_and_the_weight_once()
    {
        var c = KernelCosts.RmsNorm(7, 111);
        Assert.Equal(2.0 * 7 * 111 * 2 + 2.0 * 111, c.Bytes);
        Assert.Equal(0, c.Flops);
    }

    [Fact]
    public void Linear_cost_is_weights_plus_activations_and_two_flops_per_mac()
    {
        var c = KernelCosts.Linear(83, 4096, 769, 1000);
        Assert.Equal(1000 + 2.0 * 83 * (4096 + 769), c.Bytes);
        Assert.Equal(2.0 * 83 * 4096 * 769, c.Flops);
    }

    [Fact]
    public void Moe_layer_cost_counts_the_experts_hit_the_router_and_three_matrices_of_top_k()
    {
        var c = KernelCosts.MoeLayer(n: 19, hidden: 2560, experts: 64, topK: 6, expertFfn: 1536, expertsHit: 50.5, bytesPerExpert: 1e6);
        Assert.Equal(50.5e6 + 2.0 * 64 * 2560 + 4.0 * 19 * 2560, c.Bytes);
        Assert.Equal(2.0 * 19 * 6 * 3 * 2560 * 1536 + 2.0 * 19 * 2560 * 64, c.Flops);
    }

    [Fact]
    public void Group_gemm_cost_counts_only_the_experts_hit()
    {
        var c = KernelCosts.GroupGemm(rows: 99, nOut: 3072, k: 2560, expertsHit: 5, bytesPerExpert: 2e6);
        Assert.Equal(1e7 + 99 * (2.0 * 2560 + 2.0 * 3072), c.Bytes);
        Assert.Equal(2.0 * 99 * 3072 * 2560, c.Flops);
    }

    [Theory]
    [InlineData(QuantMode.None, 1.0)]
    [InlineData(QuantMode.WInt8, 0.5)]
    [InlineData(QuantMode.BlockWiseFp8, 0.5)]
    [InlineData(QuantMode.WInt4, 0.25)]
    [InlineData(QuantMode.W4AFp8, 0.25)]
    [InlineData(QuantMode.Nvfp4, 0.25)]
    public void Bytes_per_bf16_weight_follow_the_storage(QuantMode mode, double expected) =>
        Assert.Equal(expected, KernelCosts.BytesPerBf16Weight(mode));

    [Fact]
    public void Routed_counts_sum_to_tokens_times_top_k_with_distinct_experts_per_token()
    {
        foreach (int n in new[] { 1, 7, 83, 2048 })
        {
            var counts = KernelSuite.RoutedCounts(64, 6, n);
            Assert.Equal(6 * n, counts.Sum());
            Assert.All(counts, c => Assert.InRange(c, 0, n)); // an expert appears at most once per token
        }
        Assert.Equal(KernelSuite.RoutedCounts(64, 6, 83), KernelSuite.RoutedCounts(64, 6, 83)); // seeded
    }

    // ------------------------------------------------------------ medians

    [Fact]
    public void Median_of_odd_count_is_the_middle_value()
    {
        Assert.Equal(3, Timing.Median(new double[] { 5, 1, 3 }));
        Assert.Equal(7, Timing.Median(new double[] { 7 }));
    }

    [Fact]
    public void Median_of_even_count_averages_the_two_middle_values() =>
        Assert.Equal(2.5, Timing.Median(new double[] { 4, 1, 2, 3 }));

    [Fact]
    public void Median_leaves_out_non_finite_values_and_is_NaN_when_none_are_left()
    {
        Assert.Equal(2, Timing.Median(new[] { double.NaN, 1, 2, 3, double.PositiveInfinity }));
        Assert.True(double.IsNaN(Timing.Median(new[] { double.NaN, double.NegativeInfinity })));
        Assert.True(double.IsNaN(Timing.Median(Array.Empty<double>())));
    }

    [Fact]
    public void Step_profiler_median_is_a_real_step_with_the_median_busy_time()
    {
        // One kernel of `busy` ns: the step's busy time is that kernel's length.
        static StepTimeline Step(ulong busy) => StepTimeline.Analyze(new[] { new KernelRecord("k", 1000, 1000 + busy, 7) });
        var steps = new[] { Step(50), Step(10), Step(30), Step(40), Step(20) };
        Assert.Same(steps[2], StepProfiler.Median(steps));
        var even = new[] { Step(10), Step(40), Step(20), Step(30) };
        Assert.Contains(StepProfiler.Median(even), even); // a traced step, never an average of two
        Assert.Throws<ArgumentException>(() => StepProfiler.Median(Array.Empty<StepTimeline>()));
    }

    // ------------------------------------------------------------ rotation rule

    [Fact]
    public void Instances_rotate_at_least_twice_the_L2()
    {
        // Linear 4096 x 4096 wint4: 8 MiB of weights; 120 MiB / 8 MiB = 15 instances.
        var r = RotatedTimer.Instances(H200L2, 8.0 * (1 << 20), 8.0 * (1 << 20), callFloorMs: 0.005);
        Assert.Equal(15, r.Instances);
        Assert.True(r.Instances * 8.0 * (1 << 20) >= 2.0 * H200L2);
        // 15 x 5 us = 75 us per turn: three turns reach 200 us.
        Assert.Equal(3, r.Repeats);
        Assert.Equal(45, r.Calls);
    }

    [Fact]
    public void Instances_never_fall_below_four_even_when_one_call_exceeds_the_L2()
    {
        var r = RotatedTimer.Instances(H200L2, 1.5e9, 1.5e9, callFloorMs: 0.5);
        Assert.Equal(new Rotation(4, 1), r);
    }

    [Fact]
    public void Weights_too_small_to_leave_the_L2_get_four_instances_and_repeats_instead()
    {
        // RMSNorm 2560: 5 KiB of weight would need thousands of instances; it gets 4, and 16 repeats (the cap) of a 3 ns floor.
        var r = RotatedTimer.Instances(H200L2, 2.0 * 2560, 2.0 * 2560, callFloorMs: 3e-6);
        Assert.Equal(new Rotation(RotatedTimer.MinInstances, RotatedTimer.MaxRepeats), r);
        // Just above 2 x L2 / 64 per instance the L2 rule still holds: 64 instances.
        Assert.Equal(64, RotatedTimer.Instances(H200L2, 2.0 * H200L2 / 64, 1, 1).Instances);
        Assert.Equal(4, RotatedTimer.Instances(H200L2, 2.0 * H200L2 / 64 - 4096, 1, 1).Instances);
    }

    [Fact]
    public void Instances_are_capped_by_the_bytes_they_hold()
    {
        // 5 GiB resident per instance (every expert), 100 MiB read per call: the L2 wants 4, 16 GiB allows 3.
        var r = RotatedTimer.Instances(H200L2, 100.0 * (1 << 20), 5.0 * (1L << 30), 1);
        Assert.Equal(3, r.Instances);
        // Never fewer than two, however large.
        Assert.Equal(2, RotatedTimer.Instances(H200L2, 1e9, 1e12, 1).Instances);
    }

    [Fact]
    public void Repeats_stop_at_one_for_long_calls_and_an_unknown_floor_takes_the_cap()
    {
        Assert.Equal(1, RotatedTimer.Instances(H200L2, 134e6, 134e6, callFloorMs: 0.06).Repeats);
        Assert.Equal(RotatedTimer.MaxRepeats, RotatedTimer.Instances(H200L2, 134e6, 134e6, callFloorMs: double.NaN).Repeats);
    }

    [Fact]
    public void Reference_backend_gets_two_instances_twice()
    {
        using var device = Device.Open(BackendPreference.Reference);
        Assert.Equal(new Rotation(2, 2), RotatedTimer.Instances(device, 1e9, 1e9, 1));
    }

    [Fact]
    public void Small_L2_values_are_read_as_at_least_one_MiB()
    {
        Assert.Equal(RotatedTimer.Instances(1L << 20, 1 << 16, 1, 1), RotatedTimer.Instances(0, 1 << 16, 1, 1));
    }

    // ------------------------------------------------------------ scaling guard

    [Fact]
    public void Guard_accepts_growing_and_flat_series()
    {
        Assert.Null(ScalingGuard.Check(new[] { (1, 0.010), (16, 0.010), (128, 0.020), (2048, 0.200) }));
        Assert.Null(ScalingGuard.Check(new[] { (1, 0.010), (16, 0.0095), (2048, 0.0099) })); // memory-bound: flat within noise
        Assert.Null(ScalingGuard.Check(new[] { (1, 1.0) }));
    }

    [Fact]
    public void Guard_flags_a_largest_size_faster_than_the_smallest()
    {
        string? why = ScalingGuard.Check(new[] { (2048, 0.07), (1, 0.1), (16, 0.09) });
        Assert.NotNull(why);
        Assert.Contains("n=2048", why);
    }

    [Fact]
    public void Guard_flags_a_drop_of_more_than_the_factor_between_sizes()
    {
        Assert.NotNull(ScalingGuard.Check(new[] { (1, 0.10), (16, 0.30), (128, 0.15), (2048, 0.40) }));
        Assert.Null(ScalingGuard.Check(new[] { (1, 0.10), (16, 0.30), (128, 0.25), (2048, 0.40) }));
    }

    [Fact]
    public void Guard_ignores_missing_points()
    {
        Assert.Null(ScalingGuard.Check(new[] { (1, double.NaN), (16, 0.1), (2048, 0.2) }));
    }

    [Fact]
    public void Apply_records_ours_and_peers_in_flags_and_missing_and_marks_bench_md()
    {
        var r = new BenchReport { Device = "d", Ceilings = new Ceilings(4000, 1L << 30, 800, "bf16", "m") };
        foreach (var (n, ms, peer) in new[] { (1, 0.010, 0.050), (16, 0.011, 0.020), (2048, 0.200, 0.010) })
        {
            r.Kernels.Add(new KernelPoint("linear", "bf16", "K=1,N=1", n, ms, 0.001, "memory"));
            r.Peers[BenchReport.KernelKey("linear", "bf16", "K=1,N=1", n)] = new PeerTime("F.linear", peer, null);
        }
        // Ours grows: fine. The peer's time falls as n grows.
        ScalingGuard.Apply(r);
        var flag = Assert.Single(r.Flags);
        Assert.Equal("F.linear", flag.Who);
        Assert.Contains(r.Missing, m => m.What.Contains("F.linear") && m.Reason.Contains("does not grow"));
        string md = ReportWriters.Markdown(r);
        Assert.Contains($"0.010 {ScalingGuard.Marker}", md);
        Assert.Contains(ScalingGuard.Legend, md);
        using var doc = JsonDocument.Parse(ReportWriters.Json(r));
        Assert.Equal(1, doc.RootElement.GetProperty("flags").GetArrayLength());
    }
}

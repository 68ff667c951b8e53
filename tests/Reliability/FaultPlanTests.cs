using GraphEngine.Kernels.Diagnostics;

namespace GraphEngine.Tests.Reliability;

public class FaultPlanTests
{
    [Fact]
    public void Rule_skips_then_fires_its_times_then_passes()
    {
        var plan = new FaultPlan(new FaultRule(FaultPoint.Allocate, "weight", Skip: 2, Times: 2));
        var outcomes = new List<bool>();
        for (int i = 0; i < 6; i++)
        {
            try
            {
                plan.Check(FaultPoint.Allocate, $"layers.{i}.Weight");
                outcomes.Add(false);
            }
            catch (InjectedFaultException e)
            {
                Assert.Contains($"layers.{i}.Weight", e.Message);
                outcomes.Add(true);
            }
        }
        Assert.Equal(new[] { false, false, true, true, false, false }, outcomes);
        plan.Check(FaultPoint.Allocate, "bias");          // another subject never matches
        plan.Check(FaultPoint.Upload, "weight");          // nor another point
        Assert.Equal(7, plan.Calls(FaultPoint.Allocate));
        Assert.Equal(2, plan.Fired.Count);
    }

    [Fact]
    public void Out_of_memory_effect_throws_what_the_allocator_throws()
    {
        var plan = new FaultPlan(new FaultRule(FaultPoint.Allocate, Effect: FaultEffect.OutOfMemory));
        using var device = new ReferenceDevice();
        using (plan.Arm(device))
        {
            var e = Assert.Throws<OutOfMemoryException>(() => device.Allocate(64, "x.weight"));
            Assert.Contains("x.weight", e.Message);
        }
        Assert.Equal(0, device.AllocatedBytes);
        using var buffer = device.Allocate(64, "x.weight");   // disarmed: allocates again
    }

    [Fact]
    public void A_unit_matches_when_any_of_its_layers_does()
    {
        var plan = new FaultPlan(new FaultRule(FaultPoint.CaptureEnd, "moe"));
        plan.Check(FaultPoint.CaptureEnd, new[] { "norm", "dense" });
        Assert.Throws<InjectedFaultException>(() => plan.Check(FaultPoint.CaptureEnd, new[] { "norm", "layers.1.moe" }));
    }

    [Fact]
    public void One_plan_per_device_and_disarm_restores()
    {
        using var device = new ReferenceDevice();
        var first = new FaultPlan();
        using (first.Arm(device))
        {
            Assert.Same(first, device.Faults);
            Assert.Throws<InvalidOperationException>(() => new FaultPlan().Arm(device));
        }
        Assert.Null(device.Faults);
    }

    [Fact]
    public void Bad_rules_are_refused_naming_the_value()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new FaultPlan(new FaultRule(FaultPoint.Upload, Times: 0)));
        Assert.Contains("times", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new FaultPlan(new FaultRule(FaultPoint.Upload, Skip: -1)));
    }

    [Fact]
    public void Upload_point_fires_on_a_host_copy()
    {
        using var device = new ReferenceDevice();
        using var buffer = device.AllocateTensor(DType.F32, new long[] { 4 }, out var t);
        var plan = new FaultPlan(new FaultRule(FaultPoint.Upload, Times: 1));
        using (plan.Arm(device))
        {
            Assert.Throws<InjectedFaultException>(() => t.UploadFloats(new float[] { 1, 2, 3, 4 }));
            t.UploadFloats(new float[] { 1, 2, 3, 4 });
        }
        Assert.Equal(new float[] { 1, 2, 3, 4 }, t.DownloadFloats());
    }
}

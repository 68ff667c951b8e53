using GraphEngine.Kernels.Cuda;

namespace GraphEngine.Tests.Kernels;

/// <summary>
/// The driver's dynamic shared memory attribute is a ceiling on every launch of a function, so the limit a kernel holds
/// must never go down, whatever order plans on several threads raise it in. These run the raise logic with a recording
/// "driver" in place of cuFuncSetAttribute.
/// </summary>
public sealed class SharedMemoryLimitTests
{
    private sealed class Driver
    {
        public readonly List<int> Applied = new();
        public int Value;
        public void Set(int bytes)
        {
            // A lock of its own: a broken SharedMemoryLimit must show as a wrong order or value, not as a torn list.
            lock (Applied) { Applied.Add(bytes); Value = bytes; }
            Thread.SpinWait(50);   // widen the window between two threads' applications
        }
    }

    [Fact]
    public void Concurrent_raises_reach_the_driver_in_increasing_order_and_leave_the_largest()
    {
        for (int round = 0; round < 20; round++)
        {
            var limit = new SharedMemoryLimit();
            var driver = new Driver();
            var rng = new Random(round);
            int[] wanted = Enumerable.Range(0, 64).Select(_ => rng.Next(1, 60_000)).ToArray();
            using var start = new Barrier(8);
            var threads = Enumerable.Range(0, 8).Select(t => new Thread(() =>
            {
                start.SignalAndWait();
                for (int i = t; i < wanted.Length; i += 8) limit.Raise(wanted[i], driver, static (d, b) => d.Set(b));
            })).ToArray();
            foreach (var th in threads) th.Start();
            foreach (var th in threads) th.Join();

            Assert.Equal(wanted.Max(), driver.Value);
            Assert.Equal(wanted.Max(), limit.Bytes);
            for (int i = 1; i < driver.Applied.Count; i++)
                Assert.True(driver.Applied[i] > driver.Applied[i - 1],
                    $"round {round}: application {i} set {driver.Applied[i]} B after {driver.Applied[i - 1]} B");
        }
    }

    [Fact]
    public void A_smaller_or_equal_request_does_not_reach_the_driver()
    {
        var limit = new SharedMemoryLimit();
        var driver = new Driver();
        limit.Raise(13584, driver, static (d, b) => d.Set(b));
        limit.Raise(8000, driver, static (d, b) => d.Set(b));
        limit.Raise(13584, driver, static (d, b) => d.Set(b));
        Assert.Equal(new[] { 13584 }, driver.Applied);
        Assert.Equal(13584, limit.Bytes);
    }

    [Fact]
    public void A_failed_application_keeps_the_limit_it_had()
    {
        var limit = new SharedMemoryLimit();
        limit.Raise(9000, 0, static (_, _) => { });
        Assert.Throws<InvalidOperationException>(() => limit.Raise(70_000, 0, static (_, _) => throw new InvalidOperationException("driver refused")));
        Assert.Equal(9000, limit.Bytes);
        int applied = 0;
        limit.Raise(20_000, 0, (_, b) => applied = b);
        Assert.Equal(20_000, applied);
    }
}

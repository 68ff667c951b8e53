using GraphEngine.Kernels;

namespace GraphEngine.Hosting.Reliability;

/// <summary>
/// Device memory at one moment: what our allocator holds (bytes and live allocations), what an engine's pool has
/// rented and reserved, and the driver's free memory where the backend reports it (cuMemGetInfo), which also sees
/// what graph instantiation takes outside our allocator.
/// </summary>
public readonly record struct DeviceMemoryLevel(long AllocatedBytes, int LiveAllocations, long PoolInUseBytes, long PoolReservedBytes, long? DriverFreeBytes)
{
    /// <summary>
    /// How far the driver's free memory may move without a leak: it counts in its own allocation granularity (2 MiB
    /// pages on the H200), so freeing what was taken can leave a partly used page mapped.
    /// </summary>
    public const long DriverGranularity = 2L << 20;

    /// <summary>The level of <paramref name="device"/> and, when given, <paramref name="pool"/>.</summary>
    public static DeviceMemoryLevel Of(Device device, DevicePool? pool = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        long? free = device.TryGetFreeMemory(out long f) ? f : null;
        return new DeviceMemoryLevel(device.AllocatedBytes, device.LiveAllocations, pool?.InUseBytes ?? 0, pool?.ReservedBytes ?? 0, free);
    }

    /// <summary>
    /// Null when this level is back to <paramref name="before"/> (our allocator and the pool exactly, the driver within
    /// <see cref="DriverGranularity"/>), else what differs, in bytes.
    /// </summary>
    public string? DifferenceFrom(DeviceMemoryLevel before)
    {
        var diffs = new List<string>();
        if (AllocatedBytes != before.AllocatedBytes) diffs.Add($"allocated {before.AllocatedBytes} -> {AllocatedBytes} bytes");
        if (LiveAllocations != before.LiveAllocations) diffs.Add($"live allocations {before.LiveAllocations} -> {LiveAllocations}");
        if (PoolInUseBytes != before.PoolInUseBytes) diffs.Add($"pool in use {before.PoolInUseBytes} -> {PoolInUseBytes} bytes");
        if (PoolReservedBytes != before.PoolReservedBytes) diffs.Add($"pool reserved {before.PoolReservedBytes} -> {PoolReservedBytes} bytes");
        if (DriverFreeBytes is { } now && before.DriverFreeBytes is { } then && then - now > DriverGranularity)
            diffs.Add($"driver free memory {then} -> {now} bytes ({then - now} fewer, more than the {DriverGranularity}-byte granularity)");
        return diffs.Count == 0 ? null : string.Join(", ", diffs);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"allocated {AllocatedBytes} bytes in {LiveAllocations} allocations, pool {PoolInUseBytes}/{PoolReservedBytes} bytes in use/reserved" +
        (DriverFreeBytes is { } free ? $", driver free {free} bytes" : "");
}

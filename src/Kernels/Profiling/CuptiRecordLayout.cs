namespace GraphEngine.Kernels.Profiling;

/// <summary>
/// Byte offsets of the fields read from CUPTI's kernel, memcpy and memset activity records, for one range of CUPTI
/// API versions (cuptiGetVersion). CUPTI writes records in the newest struct version the loaded library knows, so
/// the offsets follow the library, not the headers this code was written against. Records are PACKED_ALIGNMENT
/// (packed, 8-byte aligned, every member naturally aligned) on Linux x86-64.
/// </summary>
internal sealed record CuptiRecordLayout
{
    public required string Name { get; init; }

    /// <summary>Where the offsets come from (header and version), so a reader can check them.</summary>
    public required string Source { get; init; }

    public required ActivityOffsets Kernel { get; init; }

    /// <summary>gridX; gridY and gridZ follow as consecutive int32.</summary>
    public required int KernelGridX { get; init; }

    /// <summary>blockX; blockY and blockZ follow as consecutive int32.</summary>
    public required int KernelBlockX { get; init; }

    public required int KernelName { get; init; }

    public required ActivityOffsets Copy { get; init; }

    /// <summary>copyKind (u8) of a memcpy record.</summary>
    public required int CopyKind { get; init; }
    public required int CopyBytes { get; init; }

    public required ActivityOffsets Set { get; init; }
    public required int SetBytes { get; init; }

    // CUDA 12.0-12.9 emit CUpti_ActivityKernel9 (all fields read here sit where CUpti_ActivityKernel5 put them),
    // CUpti_ActivityMemcpy5 (12.0-12.6) or CUpti_ActivityMemcpy6 (12.8-12.9, which added copyCount after the
    // fields read here) and CUpti_ActivityMemset4. Offsets worked out member by member from
    // extras/CUPTI/include/cupti_activity.h of CUDA 12.6 (CUPTI_API_VERSION 24); the member order of Memcpy6 up to
    // correlationId was checked against NVIDIA's CUPTI 12.8 reference for CUpti_ActivityMemcpy6.
    private static readonly CuptiRecordLayout s_cuda12 = new()
    {
        Name = "CUDA 12.x (CUpti_ActivityKernel9, CUpti_ActivityMemcpy5/6, CUpti_ActivityMemset4)",
        Source = "cupti_activity.h, CUDA 12.6 (CUPTI_API_VERSION 24)",
        // kind u32 @0, cacheConfig u8 @4, sharedMemoryConfig u8 @5, registersPerThread u16 @6,
        // partitionedGlobalCacheRequested/Executed u32 @8/@12, start @16, end @24, completed @32,
        // deviceId @40, contextId @44, streamId @48, gridX..Z @52..60, blockX..Z @64..72, staticSharedMemory @76,
        // dynamicSharedMemory @80, localMemoryPerThread @84, localMemoryTotal @88, correlationId @92, gridId @96,
        // name @104, reserved0 @112, queued @120, submitted @128, launchType..padding u8 @136..139,
        // sharedMemoryExecuted @140, graphNodeId @144, shmemLimitConfig @152, graphId @156, then
        // pAccessPolicyWindow @160 .. maxActiveClusters @204; sizeof 208.
        Kernel = new(Start: 16, End: 24, DeviceId: 40, ContextId: 44, StreamId: 48, CorrelationId: 92, GraphNodeId: 144, GraphId: 156),
        KernelGridX = 52, KernelBlockX = 64, KernelName = 104,
        // kind @0, copyKind/srcKind/dstKind/flags u8 @4..7, bytes @8, start @16, end @24, deviceId @32,
        // contextId @36, streamId @40, correlationId @44, runtimeCorrelationId @48, pad @52 (LP64), reserved0 @56,
        // graphNodeId @64, graphId @72, channelID @76, channelType @80, pad2 @84.
        Copy = new(Start: 16, End: 24, DeviceId: 32, ContextId: 36, StreamId: 40, CorrelationId: 44, GraphNodeId: 64, GraphId: 72),
        CopyKind = 4, CopyBytes = 8,
        // kind @0, value u32 @4, bytes @8, start @16, end @24, deviceId @32, contextId @36, streamId @40,
        // correlationId @44, flags u16 @48, memoryKind u16 @50, pad @52 (LP64), reserved0 @56, graphNodeId @64,
        // graphId @72, channelID @76, channelType @80, pad2 @84.
        Set = new(Start: 16, End: 24, DeviceId: 32, ContextId: 36, StreamId: 40, CorrelationId: 44, GraphNodeId: 64, GraphId: 72),
        SetBytes = 8,
    };

    // CUDA 13.0 replaced CUpti_ActivityKernel9 by CUpti_ActivityKernel10, which appends isDeviceLaunched (u8 @208)
    // and padding3[7] and keeps every earlier member in place (CUDA 13.0 release notes; member list of
    // CUpti_ActivityKernel10 as bindgen generated it from the CUDA 13.0 cupti_activity.h, cudarc::cupti::sys).
    // Memcpy6 and Memset4 keep their 12.x layouts. CUDA 13.1 brought CUpti_ActivityKernel11 (a priority member,
    // position not verified here), so 13.1 and later are refused rather than guessed.
    private static readonly CuptiRecordLayout s_cuda13_0 = s_cuda12 with
    {
        Name = "CUDA 13.0 (CUpti_ActivityKernel10, CUpti_ActivityMemcpy6, CUpti_ActivityMemset4)",
        Source = "cupti_activity.h, CUDA 13.0 (CUPTI_API_VERSION 130000/130001)",
    };

    // cupti_version.h lists v19 (12.0) .. v24 (12.6), v26 (12.8), v27 (12.9), v28 (12.9 Update 1); there is no v25.
    // From 13.0 the version reads xxyyzz: 130000 is 13.0, 130001 is 13.0 with CUPTI update 1.
    private static readonly (uint Version, CuptiRecordLayout Layout)[] s_known =
    [
        (19, s_cuda12), (20, s_cuda12), (21, s_cuda12), (22, s_cuda12), (23, s_cuda12), (24, s_cuda12),
        (26, s_cuda12), (27, s_cuda12), (28, s_cuda12),
        (130000, s_cuda13_0), (130001, s_cuda13_0),
    ];

    /// <summary>The CUPTI API versions whose record layouts are known, as one line for error messages.</summary>
    public static string SupportedVersions => "19-24 and 26-28 (CUDA 12.0-12.9), 130000-130001 (CUDA 13.0)";

    public static IReadOnlyList<uint> KnownVersions => s_known.Select(k => k.Version).ToArray();

    public static bool TryFor(uint apiVersion, out CuptiRecordLayout layout)
    {
        foreach (var (v, l) in s_known)
        {
            if (v == apiVersion)
            {
                layout = l;
                return true;
            }
        }
        layout = s_cuda12;
        return false;
    }

    /// <summary>The layout for <paramref name="apiVersion"/>, or a one-line refusal naming it and the supported ones.</summary>
    public static CuptiRecordLayout For(uint apiVersion) =>
        TryFor(apiVersion, out var layout)
            ? layout
            : throw new ProfilerUnavailableException(
                $"CUPTI API version {apiVersion} has no known activity record layout; supported: {SupportedVersions}");
}

/// <summary>Byte offsets of the fields every kernel, memcpy and memset record carries, at places of its own struct.</summary>
internal readonly record struct ActivityOffsets(int Start, int End, int DeviceId, int ContextId, int StreamId,
    int CorrelationId, int GraphNodeId, int GraphId);

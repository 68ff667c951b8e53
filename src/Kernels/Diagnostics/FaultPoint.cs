namespace GraphEngine.Kernels.Diagnostics;

/// <summary>
/// Diagnostics only: the named places where an armed <see cref="FaultPlan"/> may make an operation fail, as a
/// driver, an allocator or a compiler would. Nothing consults a plan unless one is armed on the device.
/// </summary>
public enum FaultPoint
{
    /// <summary>The engine starts a unit's stream capture (as if cuStreamBeginCapture failed). Subject: the unit's layer names.</summary>
    CaptureBegin,
    /// <summary>A layer's Forward was recorded inside a capture and then fails (as a layer doing something illegal). Subject: the layer's name.</summary>
    LayerCapture,
    /// <summary>The unit's capture ended and was instantiated, then fails (as cuGraphInstantiate running out of memory). Subject: the unit's layer names.</summary>
    CaptureEnd,
    /// <summary><see cref="Device.Allocate"/>, before the backend allocates. Subject: the allocation's tag.</summary>
    Allocate,
    /// <summary>A kernel compile: CUDA's GetKernel (a real NVRTC failure with its log) or, on the reference backend, a kernel family binding its implementation. Subject: the kernel or family name.</summary>
    Compile,
    /// <summary><see cref="Device.CopyToDevice"/>, before the copy. Subject: "N bytes".</summary>
    Upload,
}

/// <summary>How an injected fault surfaces.</summary>
public enum FaultEffect
{
    /// <summary>An <see cref="InjectedFaultException"/> (a <see cref="GraphEngineException"/>).</summary>
    Error,
    /// <summary>An <see cref="OutOfMemoryException"/>, what the backends throw when the device has no memory left.</summary>
    OutOfMemory,
}

/// <summary>
/// One rule of a <see cref="FaultPlan"/>: at <paramref name="Point"/>, for subjects containing <paramref name="Subject"/>
/// (case-insensitive; null matches every subject), let <paramref name="Skip"/> matching calls pass, then fail the next
/// <paramref name="Times"/> of them with <paramref name="Effect"/>.
/// </summary>
public sealed record FaultRule(FaultPoint Point, string? Subject = null, int Skip = 0, int Times = int.MaxValue, FaultEffect Effect = FaultEffect.Error)
{
    /// <summary>The rule as one line ("CaptureEnd on 'moe' after 0, 1 time(s), OutOfMemory").</summary>
    public override string ToString() =>
        $"{Point} on {(Subject is null ? "any subject" : $"'{Subject}'")}, after {Skip}, {(Times == int.MaxValue ? "every time" : $"{Times} time(s)")}, {Effect}";
}

/// <summary>Where an injected fault fired: the point, the subject and the rule.</summary>
public sealed record FaultSite(FaultPoint Point, string Subject, FaultRule Rule);

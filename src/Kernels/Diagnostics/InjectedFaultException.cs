namespace GraphEngine.Kernels.Diagnostics;

/// <summary>Diagnostics only: the error an armed <see cref="FaultPlan"/> raises with <see cref="FaultEffect.Error"/>.</summary>
public sealed class InjectedFaultException : GraphEngineException
{
    /// <summary>A fault injected at <paramref name="site"/>.</summary>
    public InjectedFaultException(FaultSite site) : base(FaultPlan.Describe(site)) => Site = site;

    /// <summary>Where the fault fired.</summary>
    public FaultSite Site { get; }
}

namespace GraphEngine.Kernels.Diagnostics;

/// <summary>
/// Diagnostics only: a set of <see cref="FaultRule"/>s armed on one device with <see cref="Arm"/>, consulted at the
/// <see cref="FaultPoint"/>s by the device, its streams' users (the engine's capture) and its kernel compiler, so the
/// fault matrix (`graphengine faults`) and the tests can make each of them fail on purpose and check what survives.
/// An unarmed device pays one field read per allocation, upload, kernel fetch and capture. Thread-safe.
/// </summary>
public sealed class FaultPlan
{
    private readonly object _lock = new();
    private readonly List<(FaultRule Rule, int Seen, int Fired)> _rules = new();
    private readonly List<FaultSite> _fired = new();
    private readonly int[] _calls = new int[Enum.GetValues<FaultPoint>().Length];

    /// <summary>A plan with <paramref name="rules"/>.</summary>
    public FaultPlan(params FaultRule[] rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        foreach (var r in rules) Add(r);
    }

    /// <summary>Adds <paramref name="rule"/>; the first matching rule that has calls left decides.</summary>
    public FaultPlan Add(FaultRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        if (rule.Skip < 0) throw new ArgumentOutOfRangeException(nameof(rule), rule.Skip, $"fault rule skip must be >= 0 ({rule})");
        if (rule.Times < 1) throw new ArgumentOutOfRangeException(nameof(rule), rule.Times, $"fault rule times must be >= 1 ({rule})");
        lock (_lock) _rules.Add((rule, 0, 0));
        return this;
    }

    /// <summary>Every fault that fired, in order.</summary>
    public IReadOnlyList<FaultSite> Fired
    {
        get { lock (_lock) return _fired.ToArray(); }
    }

    /// <summary>How many times <paramref name="point"/> was consulted while the plan was armed, fired or not (a rule that never
    /// fires counts a build's allocations, so a matrix can fail the first, the middle and the last).</summary>
    public int Calls(FaultPoint point)
    {
        lock (_lock) return _calls[(int)point];
    }

    /// <summary>Makes <paramref name="device"/> consult this plan until the returned scope is disposed; one plan per device at a time.</summary>
    /// <exception cref="InvalidOperationException">Another plan is armed on the device.</exception>
    public IDisposable Arm(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (Interlocked.CompareExchange(ref device.FaultsField, this, null) is { } other)
            throw new InvalidOperationException($"a fault plan is already armed on {device.Info.Name}; disarm it first");
        return new Disarm(device, this);
    }

    /// <summary>Throws the rule's fault when a rule matches <paramref name="point"/> and <paramref name="subject"/> and has calls left.</summary>
    public void Check(FaultPoint point, string subject)
    {
        if (Match(point, subject) is { } site) throw Raise(site);
    }

    /// <summary>As <see cref="Check(FaultPoint, string)"/> for a unit of several layers: a rule matches when any name does.</summary>
    public void Check(FaultPoint point, IReadOnlyList<string> subjects)
    {
        ArgumentNullException.ThrowIfNull(subjects);
        FaultSite? site = null;
        lock (_lock)
        {
            _calls[(int)point]++;
            for (int i = 0; i < _rules.Count && site is null; i++)
            {
                var (rule, _, _) = _rules[i];
                if (rule.Point != point) continue;
                foreach (var s in subjects)
                    if (Matches(rule, s))
                    {
                        site = Count(i, string.Join(", ", subjects));
                        break;
                    }
            }
        }
        if (site is not null) throw Raise(site);
    }

    /// <summary>
    /// The site when a rule fires for <paramref name="point"/> and <paramref name="subject"/> (the call is counted),
    /// else null: for a point whose failure is produced by the backend itself (a real NVRTC compile of broken source).
    /// </summary>
    public FaultSite? Match(FaultPoint point, string subject)
    {
        lock (_lock)
        {
            _calls[(int)point]++;
            for (int i = 0; i < _rules.Count; i++)
                if (_rules[i].Rule.Point == point && Matches(_rules[i].Rule, subject))
                    if (Count(i, subject) is { } site) return site;
        }
        return null;
    }

    // Counts one matching call of rule i; a site when it fires. Caller holds the lock.
    private FaultSite? Count(int i, string subject)
    {
        var (rule, seen, fired) = _rules[i];
        seen++;
        bool fire = seen > rule.Skip && fired < rule.Times;
        if (fire) fired++;
        _rules[i] = (rule, seen, fired);
        if (!fire) return null;
        var site = new FaultSite(rule.Point, subject, rule);
        _fired.Add(site);
        return site;
    }

    private static bool Matches(FaultRule rule, string subject) =>
        rule.Subject is null || subject.Contains(rule.Subject, StringComparison.OrdinalIgnoreCase);

    /// <summary>The exception a fired rule raises.</summary>
    public static Exception Raise(FaultSite site) => site.Rule.Effect == FaultEffect.OutOfMemory
        ? new OutOfMemoryException($"{Describe(site)}: out of device memory")
        : new InjectedFaultException(site);

    internal static string Describe(FaultSite site) => $"injected fault at {site.Point} ({InputText.Quote(site.Subject)})";

    private sealed class Disarm(Device device, FaultPlan plan) : IDisposable
    {
        public void Dispose() => Interlocked.CompareExchange(ref device.FaultsField, null, plan);
    }
}

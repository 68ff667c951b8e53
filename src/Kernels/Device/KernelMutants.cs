namespace GraphEngine.Kernels;

/// <summary>
/// A deliberately broken kernel variant for mutation testing: <see cref="Define"/> is passed to NVRTC only
/// for the sources in <see cref="Sources"/>, where an <c>#if defined(...)</c> block swaps in the bug, and
/// the managed reference implementations that have the same logic test <see cref="KernelMutants.IsActive"/>.
/// </summary>
/// <param name="Define">The preprocessor name, GE_MUTANT_*.</param>
/// <param name="Sources">native/ files compiled with the define (the file holding the #if and those that include it).</param>
public sealed record KernelMutant(string Define, IReadOnlyList<string> Sources);

/// <summary>
/// The mutant active on the current asynchronous flow. Nothing in the engine activates one: only the
/// conformance suite's mutant run does, so normal runs never compile or execute a mutant. The value flows
/// into tasks and Parallel loops started inside the scope (AsyncLocal), so a case whose reference runs in
/// parallel sees the same mutant on every thread, and another thread's run is not affected.
/// </summary>
public static class KernelMutants
{
    /// <summary>The prefix every mutant define carries, so a normal define can never be mistaken for one.</summary>
    public const string Prefix = "GE_MUTANT_";

    private sealed class Holder(KernelMutant mutant)
    {
        public readonly KernelMutant Mutant = mutant;
        public int Uses;
    }

    private static readonly AsyncLocal<Holder?> s_active = new();

    /// <summary>The mutant active here, or null (always null outside a mutant run).</summary>
    public static KernelMutant? Active => s_active.Value?.Mutant;

    /// <summary>Times the active mutant was applied since its activation: kernels fetched with its define, reference operations that took its branch. 0 means no case reached it.</summary>
    public static int Uses => s_active.Value is { } h ? Volatile.Read(ref h.Uses) : 0;

    /// <summary>True when the active mutant is <paramref name="define"/> (and counts a use); references call it once per operation, not per element.</summary>
    public static bool IsActive(string define)
    {
        if (s_active.Value is not { } h || !string.Equals(h.Mutant.Define, define, StringComparison.Ordinal)) return false;
        Interlocked.Increment(ref h.Uses);
        return true;
    }

    /// <summary>The active mutant when it applies to native/<paramref name="sourceFile"/> (and counts a use); null otherwise.</summary>
    public static KernelMutant? ActiveFor(string sourceFile)
    {
        if (s_active.Value is not { } h || !h.Mutant.Sources.Contains(sourceFile, StringComparer.Ordinal)) return null;
        Interlocked.Increment(ref h.Uses);
        return h.Mutant;
    }

    /// <summary>Activates <paramref name="mutant"/> until the returned scope is disposed; scopes do not nest.</summary>
    public static IDisposable Activate(KernelMutant mutant)
    {
        ArgumentNullException.ThrowIfNull(mutant);
        if (!mutant.Define.StartsWith(Prefix, StringComparison.Ordinal))
            throw new ArgumentException($"mutant define '{mutant.Define}' must start with {Prefix}", nameof(mutant));
        if (s_active.Value is { } current)
            throw new InvalidOperationException($"mutant {current.Mutant.Define} is already active; {mutant.Define} cannot start inside it");
        s_active.Value = new Holder(mutant);
        return new Scope();
    }

    private sealed class Scope : IDisposable
    {
        private bool _disposed;
        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            s_active.Value = null;
        }
    }
}

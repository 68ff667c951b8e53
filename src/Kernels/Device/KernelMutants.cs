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

    private static readonly AsyncLocal<KernelMutant?> s_active = new();

    /// <summary>The mutant active here, or null (always null outside a mutant run).</summary>
    public static KernelMutant? Active => s_active.Value;

    /// <summary>True when the active mutant is <paramref name="define"/>; references call it once per operation, not per element.</summary>
    public static bool IsActive(string define) => s_active.Value is { } m && string.Equals(m.Define, define, StringComparison.Ordinal);

    /// <summary>Activates <paramref name="mutant"/> until the returned scope is disposed; scopes do not nest.</summary>
    public static IDisposable Activate(KernelMutant mutant)
    {
        ArgumentNullException.ThrowIfNull(mutant);
        if (!mutant.Define.StartsWith(Prefix, StringComparison.Ordinal))
            throw new ArgumentException($"mutant define '{mutant.Define}' must start with {Prefix}", nameof(mutant));
        if (s_active.Value is { } current)
            throw new InvalidOperationException($"mutant {current.Define} is already active; {mutant.Define} cannot start inside it");
        s_active.Value = mutant;
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

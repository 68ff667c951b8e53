namespace GraphEngine.Graph;

// One call at a time. A second thread, or the application's own code called back by the engine (an eager
// step, a capture progress report) re-entering it, would otherwise change the plan under the walk in
// progress: layers run out of order, graphs used after they were replaced, or a step that recurses until
// the stack overflows. Such a call is refused with the operation already running and where it came from.
public sealed partial class PrefillEngine
{
    private int _busy;              // 1 while a call below holds the engine
    private string? _busyWith;
    private int _busyThread;

    /// <summary>Holds the engine for <paramref name="operation"/> until the returned scope is disposed; allocation-free.</summary>
    private Occupied Enter(string operation)
    {
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0) throw Busy(operation);
        _busyWith = operation;
        _busyThread = Environment.CurrentManagedThreadId;
        return new Occupied(this);
    }

    private InvalidOperationException Busy(string operation)
    {
        string running = Volatile.Read(ref _busyWith) ?? "a call";
        string where = Volatile.Read(ref _busyThread) == Environment.CurrentManagedThreadId
            ? "on this thread: code the engine called back (an eager step or a progress callback) may not call into it"
            : $"on thread {_busyThread}: one thread drives one engine";
        return new InvalidOperationException($"PrefillEngine.{operation} refused: the engine is inside {running} {where}");
    }

    private void Leave()
    {
        _busyWith = null;
        Volatile.Write(ref _busy, 0);
    }

    private readonly ref struct Occupied(PrefillEngine engine)
    {
        public void Dispose() => engine.Leave();
    }
}

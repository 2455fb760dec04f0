namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>
/// Counts <see cref="TaskScheduler.UnobservedTaskException"/> while alive. The event fires from the
/// finalizer of a faulted task nobody awaited, so <see cref="Collect"/> runs full collections
/// first; read <see cref="Count"/> after it.
/// </summary>
public sealed class UnobservedTaskExceptions : IDisposable
{
    private int _count;

    public UnobservedTaskExceptions() => TaskScheduler.UnobservedTaskException += OnUnobserved;

    public int Count => Volatile.Read(ref _count);

    /// <summary>Two blocking, compacting full collections, each followed by the finalizers they queued.</summary>
    public static void ForceGc()
    {
        for (var i = 0; i < 2; i++)
        {
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
    }

    /// <summary>Finalizes what is unreachable (so its unobserved exceptions are counted), then stops counting.</summary>
    public void Collect()
    {
        ForceGc();
        Dispose();
    }

    public void Dispose() => TaskScheduler.UnobservedTaskException -= OnUnobserved;

    private void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e) => Interlocked.Increment(ref _count);
}

using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Transport.EventLoop;

/// <summary>
/// One chunk of a file that a loop found not cached: a disk worker reads it into the page cache,
/// then <see cref="Completed"/> runs on <see cref="Loop"/> with this object as its state.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class DiskWarm(SafeHandle file, long offset, long count, EventLoop loop, Action<object?> completed, object owner)
{
    public SafeHandle File { get; } = file;

    public long Offset { get; } = offset;

    public long Count { get; } = count;

    public EventLoop Loop { get; } = loop;

    public Action<object?> Completed { get; } = completed;

    /// <summary>Whose chunk it is (the connection), for <see cref="Completed"/>.</summary>
    public object Owner { get; } = owner;

    /// <summary>The worker's result: <see cref="Errno.None"/> once the chunk is cached (or the file ended).</summary>
    public Errno Result { get; internal set; }
}

/// <summary>
/// A bounded pool of dedicated threads that read file chunks into the page cache for the loops
/// (nginx's <c>aio threads</c> split: network threads never wait for the disk). A worker never
/// touches a socket: it warms the chunk with sendfile(2) into /dev/null, which returns only once the
/// pages are read (docs/design/event-loop-engine.md §4 fact 6), and posts the completion to the
/// chunk's loop, which then sends the now cached bytes itself.
/// </summary>
/// <remarks>
/// Dedicated threads rather than the thread pool: a disk read blocks its thread for milliseconds,
/// which the thread pool would answer by injecting threads. Threads start with the first chunk;
/// a server whose files stay cached never creates them. Each queued chunk holds a reference on its
/// file's handle (DangerousAddRef) until its warm returns, so the descriptor outlives an aborted
/// connection's region.
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed class DiskWorkers : IDisposable
{
    /// <summary>Chunks that may wait for a worker; beyond it the loop sends the chunk itself.</summary>
    public const int QueueCapacity = 1024;

    private readonly BlockingCollection<DiskWarm> _queue = new(new ConcurrentQueue<DiskWarm>(), QueueCapacity);
    private readonly ZeroCopySyscalls _syscalls;
    private readonly ZeroCopyMetrics? _metrics;
    private readonly Lock _lock = new();
    private readonly Thread[] _threads;
    private SafeFileHandle? _sink;
    private bool _started;
    private volatile bool _disposed;

    public DiskWorkers(int count, ZeroCopySyscalls syscalls, ZeroCopyMetrics? metrics)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        _threads = new Thread[count];
        _syscalls = syscalls;
        _metrics = metrics;
    }

    /// <summary>The default worker count: the processor count, at least 2 (one slow disk read does not hold up all), at most 8.</summary>
    public static int DefaultCount => Math.Clamp(Environment.ProcessorCount, 2, 8);

    /// <summary>Descriptors the pool keeps open (/dev/null once started), for leak checks.</summary>
    public int OpenDescriptors => Volatile.Read(ref _sink) is null ? 0 : 1;

    /// <summary>
    /// Queues <paramref name="warm"/> for a worker and counts an offload. False when the queue is full
    /// or the pool is disposed: the caller sends the chunk itself.
    /// </summary>
    public bool TryQueue(DiskWarm warm)
    {
        if (_disposed || !EnsureStarted())
        {
            return false;
        }

        var added = false;
        warm.File.DangerousAddRef(ref added);
        bool queued;
        try
        {
            queued = _queue.TryAdd(warm);
        }
        catch (InvalidOperationException)
        {
            // Disposed meanwhile (CompleteAdding).
            queued = false;
        }

        if (!queued)
        {
            warm.File.DangerousRelease();
            return false;
        }

        _metrics?.DiskOffload();
        return true;
    }

    private bool EnsureStarted()
    {
        if (Volatile.Read(ref _started))
        {
            return true;
        }

        lock (_lock)
        {
            if (_started || _disposed)
            {
                return _started;
            }

            _sink = File.OpenHandle("/dev/null", FileMode.Open, FileAccess.Write);
            for (var i = 0; i < _threads.Length; i++)
            {
                _threads[i] = new Thread(static state => ((DiskWorkers)state!).Run(), maxStackSize: 0)
                {
                    IsBackground = true,
                    Name = "ZeroCopy disk " + i.ToString(System.Globalization.CultureInfo.InvariantCulture),
                };
                _threads[i].UnsafeStart(this);
            }

            Volatile.Write(ref _started, true);
            return true;
        }
    }

    private void Run()
    {
        foreach (var warm in _queue.GetConsumingEnumerable())
        {
            try
            {
                // After Dispose the remaining chunks are handed back unread: their loops are
                // stopping, and a stopping server should not wait for the disk.
                warm.Result = _disposed ? Errno.None : _syscalls.Warm(_sink!, warm.File, warm.Offset, warm.Count);
            }
            catch (Exception ex)
            {
                // Nothing may escape a worker (an unhandled exception ends the process); the chunk's
                // connection logs the failure and ends its region.
                warm.Result = ex is ObjectDisposedException ? Errno.EBADF : Errno.EIO;
            }
            finally
            {
                warm.File.DangerousRelease();
            }

            warm.Loop.Post(warm.Completed, warm);
        }
    }

    /// <summary>Stops taking chunks; workers hand back what is queued and exit (bounded wait).</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        _queue.CompleteAdding();
        if (_started)
        {
            // A worker inside a slow read finishes that chunk first; 5 s for all of them together.
            var deadline = Environment.TickCount64 + 5000;
            foreach (var thread in _threads)
            {
                thread.Join(TimeSpan.FromMilliseconds(Math.Max(0, deadline - Environment.TickCount64)));
            }
        }

        _sink?.Dispose();
    }
}

using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Transport.EventLoop;

/// <summary>What a loop calls when epoll reports events for a registered descriptor.</summary>
internal interface ILoopHandler
{
    /// <summary>Runs on the loop thread. An exception is logged and passed to <see cref="OnLoopError"/>.</summary>
    void OnEvents(EpollEvents events);

    /// <summary>A callback of this handler threw on the loop thread; the handler ends itself (the loop goes on).</summary>
    void OnLoopError(Exception error);
}

/// <summary>
/// One event-loop thread: an epoll instance, the descriptors registered in it, a queue of work
/// posted from other threads and a queue of work deferred by the loop itself. As a
/// <see cref="PipeScheduler"/> it runs pipe continuations on its thread, never re-entrantly.
/// </summary>
/// <remarks>
/// <para>
/// Wake-up handshake: before blocking in epoll_wait the loop sets <c>_sleeping</c> (an
/// interlocked exchange, a full fence) and then looks at its queue once more; a producer enqueues
/// and then exchanges <c>_sleeping</c> back to 0, and writes the eventfd only if it was 1. Either the
/// loop sees the work, or the producer sees the flag: one eventfd write per sleep at most, none
/// while the loop is busy.
/// </para>
/// <para>
/// The eventfd is registered EPOLLIN | EPOLLET and never read: with edge triggering every write is a
/// new event even if the counter is never drained (measured, docs/design/event-loop-engine.md §4
/// fact 7; nginx's notify eventfd relies on the same).
/// </para>
/// <para>
/// epoll data is <c>generation &lt;&lt; 32 | slot</c>: an event still in this batch for a handler that
/// was unregistered (and whose slot may already serve a new descriptor with the same number) has a
/// stale generation and is dropped (epoll(7), "If using an event cache...").
/// </para>
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed unsafe class EventLoop : PipeScheduler, IDisposable
{
    private const int MaxEvents = 256;
    private const ulong WakeData = ulong.MaxValue;

    [ThreadStatic]
    private static EventLoop? t_current;

    private readonly SafeFdHandle _epoll;
    private readonly SafeFdHandle _wake;
    private readonly ConcurrentQueue<(Action<object?> Callback, object? State)> _posted = new();
    private readonly Queue<(Action<object?> Callback, object? State)> _deferred = new();
    private readonly ILogger _logger;
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ILoopHandler?[] _handlers = new ILoopHandler?[64];
    private uint[] _generations = new uint[64];
    private int[] _free = new int[64];
    private int _freeCount;
    private int _used;
    private int _sleeping;
    private int _connections;
    private volatile bool _stopping;
    private volatile bool _exited;

    public EventLoop(int index, ILogger logger)
    {
        Index = index;
        _logger = logger;
        var errno = Interop.EpollCreate(out _epoll);
        if (errno != Errno.None)
        {
            throw new IOException($"epoll_create1 failed: {errno.Message()} ({errno}).");
        }

        errno = Interop.EventFdCreate(out _wake);
        if (errno == Errno.None)
        {
            errno = Interop.EpollAdd(_epoll, _wake, EpollEvents.EPOLLIN | EpollEvents.EPOLLET, WakeData);
        }

        if (errno != Errno.None)
        {
            _epoll.Dispose();
            _wake.Dispose();
            throw new IOException($"Creating the event loop's eventfd failed: {errno.Message()} ({errno}).");
        }

        _thread = new Thread(static state => ((EventLoop)state!).Run(), maxStackSize: 0)
        {
            IsBackground = true,
            Name = "ZeroCopy loop " + index.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
    }

    public int Index { get; }

    /// <summary>Connections assigned to this loop (counted when assigned, so concurrent accepts spread).</summary>
    public int ConnectionCount => Volatile.Read(ref _connections);

    /// <summary>Pins of one gather send (loop thread only: a send finishes before the next starts).</summary>
    public MemoryHandle[] PinScratch { get; } = new MemoryHandle[64];

    /// <summary>True on this loop's own thread.</summary>
    public bool IsCurrent => t_current == this;

    /// <summary>Completes when the loop thread has exited.</summary>
    public Task Stopped => _stopped.Task;

    public void Start() => _thread.UnsafeStart(this);

    public void AddConnection() => Interlocked.Increment(ref _connections);

    public void RemoveConnection() => Interlocked.Decrement(ref _connections);

    /// <summary>Runs <paramref name="action"/> on the loop: after the current step when called on the loop, else posted.</summary>
    public override void Schedule(Action<object?> action, object? state)
    {
        if (t_current == this)
        {
            _deferred.Enqueue((action, state));
        }
        else
        {
            Post(action, state);
        }
    }

    /// <summary>Queues work from any thread and wakes the loop if it sleeps.</summary>
    public void Post(Action<object?> action, object? state)
    {
        _posted.Enqueue((action, state));
        if (Interlocked.Exchange(ref _sleeping, 0) == 1)
        {
            Interop.EventFdSignal(_wake);
        }

        if (_exited)
        {
            // No loop runs it any more (it stopped or failed): run it here, so whoever waits on
            // it (a connection's disposal) is released. The loop's descriptors are gone by now.
            DrainPosted();
        }
    }

    private void DrainPosted()
    {
        while (_posted.TryDequeue(out var work))
        {
            Invoke(work);
        }
    }

    /// <summary>Adds <paramref name="fd"/> to the loop's epoll set (loop thread only); returns the handler's token.</summary>
    public Errno Register(SafeHandle fd, EpollEvents events, ILoopHandler handler, out int token)
    {
        EnsureOnLoop();
        int slot;
        if (_freeCount > 0)
        {
            slot = _free[--_freeCount];
        }
        else
        {
            if (_used == _handlers.Length)
            {
                Array.Resize(ref _handlers, _used * 2);
                Array.Resize(ref _generations, _used * 2);
                Array.Resize(ref _free, _used * 2);
            }

            slot = _used++;
        }

        var errno = Interop.EpollAdd(_epoll, fd, events, ((ulong)_generations[slot] << 32) | (uint)slot);
        if (errno != Errno.None)
        {
            _free[_freeCount++] = slot;
            token = -1;
            return errno;
        }

        _handlers[slot] = handler;
        token = slot;
        return Errno.None;
    }

    /// <summary>
    /// Removes a registration (loop thread only). Events of this batch for it are dropped from now
    /// on, even if its descriptor number is reused at once.
    /// </summary>
    public void Unregister(int token, SafeHandle fd)
    {
        EnsureOnLoop();
        if (token < 0 || _handlers[token] is null)
        {
            return;
        }

        if (!fd.IsClosed)
        {
            Interop.EpollRemove(_epoll, fd);
        }

        _handlers[token] = null;
        _generations[token]++;
        _free[_freeCount++] = token;
    }

    private void EnsureOnLoop()
    {
        if (t_current != this)
        {
            throw new InvalidOperationException("Only the loop's own thread may change its epoll set.");
        }
    }

    private void Run()
    {
        t_current = this;
        var events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * Interop.EpollEventSize));
        try
        {
            while (true)
            {
                RunQueued();
                if (_stopping)
                {
                    break;
                }

                var timeout = _deferred.Count > 0 ? 0 : -1;
                if (timeout != 0)
                {
                    Interlocked.Exchange(ref _sleeping, 1);
                    if (!_posted.IsEmpty || _stopping)
                    {
                        Interlocked.Exchange(ref _sleeping, 0);
                        timeout = 0;
                    }
                }

                var count = Interop.EpollWait(_epoll, events, MaxEvents, timeout, out var errno);
                if (timeout != 0)
                {
                    Volatile.Write(ref _sleeping, 0);
                }

                if (count < 0)
                {
                    if (errno == Errno.EINTR)
                    {
                        continue;
                    }

                    // The loop cannot wait any more: its connections can make no progress.
                    TransportLog.LoopFailed(_logger, Index, errno.ToString(), errno.Message());
                    break;
                }

                for (var i = 0; i < count; i++)
                {
                    var (ready, data) = Interop.EpollEventAt(events, i);
                    if (data == WakeData)
                    {
                        continue;
                    }

                    var slot = (int)(uint)data;
                    if ((uint)slot < (uint)_used && _generations[slot] == (uint)(data >> 32) && _handlers[slot] is { } handler)
                    {
                        Dispatch(handler, ready);
                    }
                }
            }
        }
        catch (Exception ex)
        {
            // Nothing above throws by design; if it does, say so loudly rather than let the
            // process die without a word (an unhandled exception on a thread ends the process).
            TransportLog.LoopCrashed(_logger, Index, ex);
        }
        finally
        {
            NativeMemory.Free(events);
            AbortRemaining();
            t_current = null;
            _stopped.TrySetResult();
        }
    }

    private void Dispatch(ILoopHandler handler, EpollEvents ready)
    {
        try
        {
            handler.OnEvents(ready);
        }
        catch (Exception ex)
        {
            Fail(handler, ex);
        }
    }

    private void Fail(ILoopHandler handler, Exception error)
    {
        try
        {
            handler.OnLoopError(error);
        }
        catch (Exception ex)
        {
            TransportLog.LoopCallbackFailed(_logger, Index, ex);
        }
    }

    /// <summary>Runs what was posted and deferred so far; work queued meanwhile waits for the next round (after a poll).</summary>
    private void RunQueued()
    {
        var deferred = _deferred.Count;
        DrainPosted();

        for (var i = 0; i < deferred && _deferred.TryDequeue(out var work); i++)
        {
            Invoke(work);
        }
    }

    private void Invoke((Action<object?> Callback, object? State) work)
    {
        try
        {
            work.Callback(work.State);
        }
        catch (Exception ex)
        {
            if (work.State is ILoopHandler handler)
            {
                Fail(handler, ex);
            }
            else
            {
                TransportLog.LoopCallbackFailed(_logger, Index, ex);
            }
        }
    }

    /// <summary>The loop is ending: whatever is still registered can make no progress and is ended.</summary>
    private void AbortRemaining()
    {
        var error = new IOException($"The zero-copy event loop {Index} stopped.");
        for (var i = 0; i < _used; i++)
        {
            if (_handlers[i] is { } handler)
            {
                Fail(handler, error);
            }
        }

        // Work posted for handlers that are gone now has nothing to act on; run it so waiters
        // (a disposal waiting for its connection's end) are released.
        while (_deferred.TryDequeue(out var work))
        {
            Invoke(work);
        }

        _exited = true;
        DrainPosted();
    }

    /// <summary>Stops the loop and waits (bounded) for its thread.</summary>
    public void Dispose()
    {
        _stopping = true;
        if (_thread.ThreadState != ThreadState.Unstarted)
        {
            Post(static _ => { }, null);
            if (!_thread.Join(TimeSpan.FromSeconds(5)))
            {
                TransportLog.LoopStuck(_logger, Index);
                return;
            }
        }

        _wake.Dispose();
        _epoll.Dispose();
    }
}

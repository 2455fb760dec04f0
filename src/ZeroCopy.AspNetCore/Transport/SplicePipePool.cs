using System.Collections.Concurrent;
using System.Runtime.Versioning;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>An empty pipe for splice(2), with the capacity the kernel granted.</summary>
[SupportedOSPlatform("linux")]
internal sealed class SplicePipe : IDisposable
{
    public SplicePipe(SafeFdHandle read, SafeFdHandle write, int capacity)
    {
        Read = read;
        Write = write;
        Capacity = capacity;
    }

    public SafeFdHandle Read { get; }

    public SafeFdHandle Write { get; }

    public int Capacity { get; }

    public void Dispose()
    {
        Read.Dispose();
        Write.Dispose();
    }
}

/// <summary>
/// Pipes for the Splice engine, reused across responses. Only empty pipes come back; a pipe that may
/// still hold bytes (an error mid-transfer) is closed instead, so no stale byte can ever be sent.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class SplicePipePool : IDisposable
{
    private readonly ConcurrentBag<SplicePipe> _pipes = [];
    private readonly int _requestedSize;
    private readonly int _maxPooled;
    private int _pooled;
    private bool _disposed;

    /// <summary>Pipes waiting in the pool (each holds two descriptors).</summary>
    public int Pooled => Volatile.Read(ref _pooled);

    public SplicePipePool(int requestedSize, int maxPooled)
    {
        _requestedSize = requestedSize;
        _maxPooled = maxPooled;
    }

    /// <returns>A pipe, or null with <paramref name="errno"/> (EMFILE, ENFILE...).</returns>
    public SplicePipe? Rent(out Errno errno)
    {
        if (_pipes.TryTake(out var pipe))
        {
            Interlocked.Decrement(ref _pooled);
            errno = Errno.None;
            return pipe;
        }

        errno = Interop.CreatePipe(out var read, out var write);
        if (errno != Errno.None)
        {
            return null;
        }

        // F_SETPIPE_SZ is capped by /proc/sys/fs/pipe-max-size for unprivileged processes; the
        // kernel's answer is the capacity actually available.
        var capacity = Interop.SetPipeSize(write, _requestedSize);
        return new SplicePipe(read, write, capacity > 0 ? capacity : 65536);
    }

    public void Return(SplicePipe pipe)
    {
        if (Volatile.Read(ref _disposed) || Interlocked.Increment(ref _pooled) > _maxPooled)
        {
            Interlocked.Decrement(ref _pooled);
            pipe.Dispose();
            return;
        }

        _pipes.Add(pipe);
    }

    public void Dispose()
    {
        Volatile.Write(ref _disposed, true);
        while (_pipes.TryTake(out var pipe))
        {
            pipe.Dispose();
        }
    }
}

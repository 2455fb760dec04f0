using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Win32.SafeHandles;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>
/// "The next <see cref="Count"/> bytes of the output are bytes of <see cref="File"/> from
/// <see cref="Offset"/>": what the send loop sends with sendfile/splice instead of pipe bytes.
/// </summary>
/// <remarks>
/// The region holds a reference on <see cref="File"/> (SafeHandle.DangerousAddRef) from its
/// creation until <see cref="Dispose"/>: the caller keeps ownership and may dispose the handle when
/// the request ends, but the descriptor is closed only once the transport is done with the bytes,
/// which may be long after the request that produced them completed. No dup(2) or close(2) per
/// response.
/// </remarks>
internal sealed class FileRegion : IDisposable
{
    private int _disposed;

    /// <exception cref="ObjectDisposedException"><paramref name="file"/> is already closed.</exception>
    public FileRegion(SafeFileHandle file, long offset, long count, ZeroCopyMode mode, MinDataRate? minDataRate, string? path)
    {
        var added = false;
        file.DangerousAddRef(ref added);
        File = file;
        Offset = offset;
        Count = count;
        Remaining = count;
        Mode = mode;
        MinDataRate = minDataRate;
        Path = path;
    }

    public SafeFileHandle File { get; }

    public long Offset { get; }

    public long Count { get; }

    /// <summary>SendFile, Splice or Auto.</summary>
    public ZeroCopyMode Mode { get; }

    /// <summary>Kestrel's minimum response data rate for the request (null: not enforced).</summary>
    public MinDataRate? MinDataRate { get; }

    /// <summary>Told once when the transport is done with the region (not when it is dropped unsent).</summary>
    public IFileRegionObserver? Observer { get; init; }

    /// <summary>What became of the region; null until the transport has tried to send it.</summary>
    public RegionResult? Result { get; private set; }

    /// <summary>For logs.</summary>
    public string? Path { get; }

    /// <summary>
    /// What fstat said of the file when the response headers were computed; the sender compares it
    /// after every transfer so a file rewritten mid-send ends the connection instead of completing
    /// the body with bytes of another version. Null for sealed snapshots (they cannot change).
    /// </summary>
    public Native.FileStatus? Identity { get; init; }

    /// <summary>
    /// What keeps the bytes of <see cref="File"/> at this region unchanged while the transport may
    /// still read them (a reference on a cache entry whose arena slot they are); disposed with the
    /// region, never before the transport is done with it.
    /// </summary>
    public IDisposable? Lease { get; init; }

    /// <summary>Bytes not sent yet, as last reported by the send loop.</summary>
    public long Remaining { get; private set; }

    /// <summary>Byte position in the connection's output stream where the region starts.</summary>
    public long Position { get; set; }

    private TaskCompletionSource<bool>? _released;
    private long _releaseThreshold = long.MaxValue;

    /// <summary>
    /// Completes (true) once no more than the connection's MaxWriteBufferSize of the region is left
    /// to send — when a write of the same bytes would have let Kestrel's flush complete — or
    /// (false) when the region ends without being sent. The response waits for it, so
    /// SendFileAsync, RequestAborted and Kestrel's request duration cover the transfer as they do
    /// with Kestrel's socket transport.
    /// </summary>
    public Task<bool> Released => _released?.Task ?? Task.FromResult(true);

    /// <summary>Called by the connection when it takes the region.</summary>
    internal void Arm(long releaseThreshold)
    {
        _releaseThreshold = releaseThreshold;
        if (Count > releaseThreshold)
        {
            _released = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>
    /// The send loop's report: how the region ended, with which engine, after how many engine
    /// fallbacks (EINVAL/ENOSYS/EOPNOTSUPP before the first byte). Called at most once.
    /// </summary>
    internal void Complete(RegionOutcome outcome, RegionEngine engine, int engineFallbacks)
    {
        if (Result is not null)
        {
            return;
        }

        Result = new RegionResult(outcome, engine, outcome == RegionOutcome.Sent ? Count : Count - Remaining, engineFallbacks);
        Observer?.RegionCompleted(this, Result.Value);
    }

    /// <summary>The send loop reports progress: <paramref name="remaining"/> bytes still to send.</summary>
    internal void ReportRemaining(long remaining)
    {
        Remaining = remaining;
        if (remaining <= _releaseThreshold)
        {
            _released?.TrySetResult(true);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Not sent (the connection died) unless progress released it before.
        _released?.TrySetResult(false);
        File.DangerousRelease();
        Lease?.Dispose();
    }
}

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>
/// Regions closed by the output writer and waiting for the send loop, in output order. The writer
/// (Kestrel's side) enqueues; the send loop peeks and dequeues.
/// </summary>
internal sealed class RegionQueue
{
    private readonly Lock _lock = new();
    private readonly Queue<FileRegion> _regions = new();
    private readonly int _limit;
    private TaskCompletionSource? _space;
    private bool _closed;

    public RegionQueue(int limit) => _limit = Math.Max(1, limit);

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _regions.Count;
            }
        }
    }

    /// <returns>False when the connection is gone; the caller still owns the region then.</returns>
    public bool TryEnqueue(FileRegion region)
    {
        lock (_lock)
        {
            if (_closed)
            {
                return false;
            }

            _regions.Enqueue(region);
            return true;
        }
    }

    public bool TryPeek(out FileRegion? region)
    {
        lock (_lock)
        {
            return _regions.TryPeek(out region);
        }
    }

    /// <summary>Removes the head (which the send loop has finished) and disposes it.</summary>
    public void CompleteHead()
    {
        FileRegion region;
        TaskCompletionSource? space = null;
        lock (_lock)
        {
            region = _regions.Dequeue();
            if (_space is not null && _regions.Count < _limit)
            {
                space = _space;
                _space = null;
            }
        }

        region.Dispose();
        space?.TrySetResult();
    }

    /// <summary>
    /// Completes when fewer than the limit are queued. Pipelined requests for large files would
    /// otherwise queue regions (and open files) without bound while the client does not read.
    /// </summary>
    public ValueTask WaitForSpaceAsync(CancellationToken cancellationToken)
    {
        Task wait;
        lock (_lock)
        {
            if (_closed || _regions.Count < _limit)
            {
                return ValueTask.CompletedTask;
            }

            _space ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            wait = _space.Task;
        }

        return new ValueTask(wait.WaitAsync(cancellationToken));
    }

    public bool IsFull
    {
        get
        {
            lock (_lock)
            {
                return _regions.Count >= _limit;
            }
        }
    }

    /// <summary>The connection is over: refuse new regions, dispose queued ones, release waiters.</summary>
    public void Close()
    {
        FileRegion[] remaining;
        TaskCompletionSource? space;
        lock (_lock)
        {
            _closed = true;
            remaining = [.. _regions];
            _regions.Clear();
            space = _space;
            _space = null;
        }

        foreach (var region in remaining)
        {
            region.Dispose();
        }

        space?.TrySetResult();
    }
}

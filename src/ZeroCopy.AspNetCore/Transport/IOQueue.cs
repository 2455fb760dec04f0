using System.Collections.Concurrent;
using System.IO.Pipelines;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>
/// A <see cref="PipeScheduler"/> that runs its callbacks in order on one thread-pool work item at a
/// time: socket completions of the connections sharing a queue are batched instead of each taking
/// a thread-pool hop.
/// </summary>
internal sealed class IOQueue : PipeScheduler, IThreadPoolWorkItem
{
    private readonly ConcurrentQueue<(Action<object?> Callback, object? State)> _work = new();
    private int _scheduled;

    public override void Schedule(Action<object?> action, object? state)
    {
        _work.Enqueue((action, state));
        if (Interlocked.CompareExchange(ref _scheduled, 1, 0) == 0)
        {
            System.Threading.ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    void IThreadPoolWorkItem.Execute()
    {
        while (true)
        {
            while (_work.TryDequeue(out var item))
            {
                item.Callback(item.State);
            }

            Volatile.Write(ref _scheduled, 0);
            // A producer may have enqueued after the last TryDequeue but seen _scheduled == 1.
            if (_work.IsEmpty || Interlocked.Exchange(ref _scheduled, 1) == 1)
            {
                return;
            }
        }
    }
}

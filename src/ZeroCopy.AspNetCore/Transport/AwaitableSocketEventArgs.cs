using System.Net.Sockets;
using System.Threading.Tasks.Sources;
using System.IO.Pipelines;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>
/// A reusable <see cref="SocketAsyncEventArgs"/> that is its own <see cref="IValueTaskSource{T}"/>:
/// one instance per receive or send loop, so awaiting a socket operation allocates nothing. One
/// operation at a time.
/// </summary>
internal class AwaitableSocketEventArgs : SocketAsyncEventArgs, IValueTaskSource<SocketOperationResult>
{
    // Marks "the operation completed before anyone awaited it".
    private static readonly Action<object?> s_completedSentinel = static _ => { };

    private readonly PipeScheduler _completionScheduler;
    private volatile Action<object?>? _continuation;

    public AwaitableSocketEventArgs(PipeScheduler completionScheduler)
        : base(unsafeSuppressExecutionContextFlow: true)
        => _completionScheduler = completionScheduler;

    /// <summary>Starts or finishes an operation: <paramref name="pending"/> is what Socket.*Async returned.</summary>
    protected ValueTask<SocketOperationResult> Result(bool pending)
    {
        if (pending)
        {
            return new ValueTask<SocketOperationResult>(this, 0);
        }

        return SocketError == SocketError.Success
            ? new ValueTask<SocketOperationResult>(new SocketOperationResult(BytesTransferred))
            : new ValueTask<SocketOperationResult>(new SocketOperationResult(new SocketException((int)SocketError)));
    }

    protected override void OnCompleted(SocketAsyncEventArgs e)
    {
        var continuation = _continuation ?? Interlocked.CompareExchange(ref _continuation, s_completedSentinel, null);
        if (continuation is not null)
        {
            var state = UserToken;
            UserToken = null;
            _continuation = s_completedSentinel;
            _completionScheduler.Schedule(continuation, state);
        }
    }

    public SocketOperationResult GetResult(short token)
    {
        _continuation = null;
        return SocketError == SocketError.Success
            ? new SocketOperationResult(BytesTransferred)
            : new SocketOperationResult(new SocketException((int)SocketError));
    }

    public ValueTaskSourceStatus GetStatus(short token)
        => !ReferenceEquals(_continuation, s_completedSentinel) ? ValueTaskSourceStatus.Pending
            : SocketError == SocketError.Success ? ValueTaskSourceStatus.Succeeded
            : ValueTaskSourceStatus.Faulted;

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        UserToken = state;
        if (ReferenceEquals(Interlocked.CompareExchange(ref _continuation, continuation, null), s_completedSentinel))
        {
            // Completed between the check and the registration: run it now, off this stack.
            UserToken = null;
            ThreadPool.UnsafeQueueUserWorkItem(continuation, state, preferLocal: true);
        }
    }
}

/// <summary>Receives into pipe memory; a zero-byte receive waits for data without holding a buffer.</summary>
internal sealed class SocketReceiver : AwaitableSocketEventArgs
{
    public SocketReceiver(PipeScheduler completionScheduler)
        : base(completionScheduler)
    {
    }

    public ValueTask<SocketOperationResult> WaitForDataAsync(Socket socket)
    {
        SetBuffer(Memory<byte>.Empty);
        return Result(socket.ReceiveAsync(this));
    }

    public ValueTask<SocketOperationResult> ReceiveAsync(Socket socket, Memory<byte> buffer)
    {
        SetBuffer(buffer);
        return Result(socket.ReceiveAsync(this));
    }
}

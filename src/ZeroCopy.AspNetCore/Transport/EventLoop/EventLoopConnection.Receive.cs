using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Transport.EventLoop;

internal sealed partial class EventLoopConnection
{
    private const int MinReceiveBufferSize = 2048;

    // Bytes one turn may receive before other connections of the loop get theirs (epoll(7),
    // "Starvation (edge-triggered)").
    private const int ReceiveBudget = 64 * 1024;

    private readonly Action _onInputFlushed;

    // Loop thread only.
    private bool _readable;
    private bool _peerHungUp;
    private bool _receiving = true;
    private bool _receivePaused;
    private bool _receiveQueued;
    private ValueTask<FlushResult> _pendingFlush;

    /// <summary>
    /// Loop: receives while the socket has bytes (or the budget lasts), then flushes them to
    /// Kestrel. Memory is taken from the pipe only when epoll reported data, so an idle connection
    /// holds no buffer.
    /// </summary>
    private void Receive()
    {
        _receiveQueued = false;
        if (!_receiving || _receivePaused || _socketClosed)
        {
            return;
        }

        var input = _input.Writer;
        long received = 0;
        while (_readable && received < ReceiveBudget)
        {
            var memory = input.GetMemory(MinReceiveBufferSize);
            var count = _syscalls.Receive(_fd, memory.Span, out var errno);
            if (count > 0)
            {
                input.Advance((int)count);
                received += count;
                if (count < memory.Length && !_peerHungUp)
                {
                    // A short read on a stream socket: the receive queue is drained (epoll(7), Q&A 9).
                    // No new edge comes for a FIN that arrives later: EPOLLRDHUP is its own edge.
                    _readable = false;
                }

                continue;
            }

            if (count == 0 && received > 0)
            {
                // Data and FIN arrived together: give Kestrel the data first and the end of the
                // input on the next turn, in two reads as Kestrel's socket transport does. One read
                // result with both makes Kestrel see the end before it starts the request, which
                // widens the window in which it aborts the response it is writing.
                break;
            }

            if (count == 0)
            {
                TransportLog.ConnectionReadFin(_logger, ConnectionId);
                // Complete commits what was advanced before the FIN.
                EndReceive(null);
                if (_transfer?.Region is not null)
                {
                    // Kestrel answers the client's FIN by aborting the response (Abort(null): FIN
                    // after what was sent). The loop would keep pumping the file to a client that
                    // reads while that news travels through the thread pool, and send the whole
                    // body or not depending on the race; cut it now, as Kestrel is about to.
                    Abort(null!);
                }

                return;
            }

            if (errno == Errno.EINTR)
            {
                continue;
            }

            if (errno == Errno.EAGAIN)
            {
                _readable = false;
                break;
            }

            EndReceive(SocketError("recv", errno));
            return;
        }

        if (received > 0)
        {
            // Consumed exactly once: here when it completed at once, else by its continuation.
#pragma warning disable CA2012
            var flush = input.FlushAsync();
#pragma warning restore CA2012
            if (flush.IsCompleted)
            {
                var result = flush.GetAwaiter().GetResult();
                if (result.IsCompleted || result.IsCanceled)
                {
                    EndReceive(null);
                    return;
                }
            }
            else
            {
                // Kestrel has MaxReadBufferSize unread: wait until it reads half of it. The
                // continuation comes through the input writer's scheduler, this loop.
                _receivePaused = true;
                _pendingFlush = flush;
                flush.GetAwaiter().UnsafeOnCompleted(_onInputFlushed);
                return;
            }
        }

        if (_readable)
        {
            // The budget ended before the socket was drained: no new edge will come for these
            // bytes, so come back after the others.
            QueueReceive();
        }
    }

    private void QueueReceive()
    {
        if (!_receiveQueued)
        {
            _receiveQueued = true;
            _loop.Schedule(static state => ((EventLoopConnection)state!).Receive(), this);
        }
    }

    /// <summary>Loop: Kestrel read enough of the input (or the flush was cancelled).</summary>
    private void OnInputFlushed()
    {
        // A pipe continuation (see OnOutputReadable): contain failures here.
        try
        {
            _receivePaused = false;
            var flush = _pendingFlush;
            _pendingFlush = default;
            var result = flush.GetAwaiter().GetResult();
            if (result.IsCompleted || result.IsCanceled || _shutdownReason is not null)
            {
                EndReceive(null);
                return;
            }

            // Bytes that arrived while paused raised no new edge.
            if (_readable)
            {
                Receive();
            }
        }
        catch (Exception ex)
        {
            OnLoopError(ex);
        }
    }

    /// <summary>Loop: the receive side is over; Kestrel sees the input end (with the shutdown reason, if any). Once.</summary>
    private void EndReceive(Exception? error)
    {
        if (!_receiving)
        {
            return;
        }

        _receiving = false;
        _input.Writer.Complete(_shutdownReason ?? error);
        FireConnectionClosed();
        EndedIfDone();
    }
}

using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Transport.EventLoop;

internal sealed partial class EventLoopConnection
{
    // Pipe bytes one turn may send before other connections of the loop get theirs.
    private const long SendBudget = 256 * 1024;

    // iovecs per sendmsg; Linux accepts up to UIO_MAXIOV (1024), 64 segments of a pool's 4 KiB
    // blocks cover more than the budget.
    private const int MaxVectors = 64;

    private readonly Action _onOutputReadable;

    // Loop thread only.
    private bool _sending = true;
    private bool _waitingForWritable;
    private bool _outputReadPending;
    private bool _sendQueued;
    private ValueTask<ReadResult> _pendingRead;

    /// <summary>Pipe bytes sent so far; a region whose position equals it goes before any later pipe byte.</summary>
    private long _consumed;

    /// <summary>
    /// Loop: sends what the output pipe holds (and the regions at their positions) until the pipe
    /// is empty (then a read waits for Kestrel's next flush), the socket is full (then the
    /// EPOLLOUT edge resumes it) or the budget is used (then it comes back after the others).
    /// </summary>
    private void Send()
    {
        _sendQueued = false;
        if (!_sending || _outputReadPending || _waitingForWritable)
        {
            return;
        }

        var reader = _output.Reader;
        var budget = SendBudget;
        while (true)
        {
            switch (SendRegions())
            {
                case SendState.Continue:
                    break;
                case SendState.Yield:
                    QueueSend();
                    return;
                default:
                    return;
            }

            if (_shutdownReason is not null && _socketClosed)
            {
                EndSend(null);
                return;
            }

            if (!reader.TryRead(out var result))
            {
                // Consumed exactly once: here when it completed at once, else by its continuation.
#pragma warning disable CA2012
                var read = reader.ReadAsync();
#pragma warning restore CA2012
                if (read.IsCompleted)
                {
                    result = read.GetAwaiter().GetResult();
                }
                else
                {
                    // Kestrel's next flush (or a region's cancelled read) schedules the
                    // continuation on this loop: the output reader's scheduler.
                    _outputReadPending = true;
                    _pendingRead = read;
                    read.GetAwaiter().UnsafeOnCompleted(_onOutputReadable);
                    return;
                }
            }

            if (_shutdownReason is not null && (_socketClosed || result.IsCanceled))
            {
                reader.AdvanceTo(result.Buffer.Start);
                EndSend(null);
                return;
            }

            var buffer = result.Buffer;
            var sendable = buffer.Length;
            var next = PeekRegion();
            if (next is not null)
            {
                sendable = Math.Min(sendable, next.Position - _consumed);
            }

            if (sendable > 0)
            {
                var slice = buffer.Slice(0, sendable);
                // Bytes that end exactly where a region starts (a response's headers) go with
                // MSG_MORE so the file's first bytes fill their segment (tcp(7) MSG_MORE).
                var flags = next is not null && next.Position == _consumed + sendable ? SendFlags.MSG_MORE : 0;
                var sent = SendBytes(slice, flags, out var offered, out var errno);
                if (sent < 0)
                {
                    reader.AdvanceTo(buffer.Start);
                    if (errno == Errno.EAGAIN)
                    {
                        WaitForWritable();
                        return;
                    }

                    EndSend(SocketError("sendmsg", errno), reset: true);
                    return;
                }

                reader.AdvanceTo(slice.GetPosition(sent));
                _consumed += sent;
                if (sent < offered)
                {
                    // A short write: the socket buffer is full; EPOLLOUT brings us back.
                    WaitForWritable();
                    return;
                }

                budget -= sent;
                if (budget <= 0)
                {
                    QueueSend();
                    return;
                }

                continue;
            }

            // Nothing to send before the next region (or nothing at all): examine nothing, so the
            // next read returns at once if bytes are waiting behind the region.
            reader.AdvanceTo(buffer.Start);
            if (result.IsCompleted && buffer.IsEmpty)
            {
                if (next is null)
                {
                    // Output completed and everything was sent: graceful FIN.
                    EndSend(null, reset: false);
                    return;
                }

                if (next.Position != _consumed)
                {
                    throw new InvalidOperationException($"A file region at output position {next.Position} lies beyond the end of the output ({_consumed}).");
                }
            }
        }
    }

    private void WaitForWritable()
    {
        _waitingForWritable = true;
    }

    private void QueueSend()
    {
        if (!_sendQueued)
        {
            _sendQueued = true;
            _loop.Schedule(static state => ((EventLoopConnection)state!).Send(), this);
        }
    }

    /// <summary>Loop: Kestrel flushed (or the pending read was cancelled).</summary>
    private void OnOutputReadable()
    {
        // A pipe continuation: the loop runs it with the pipe's state, not this connection, so a
        // failure must be contained here (abort this connection, keep the loop).
        try
        {
            _outputReadPending = false;
            var read = _pendingRead;
            _pendingRead = default;
            var result = read.GetAwaiter().GetResult();
            // Nothing was consumed: the next TryRead returns the same buffer (or the completion).
            _output.Reader.AdvanceTo(result.Buffer.Start);
            if (!_sending)
            {
                // The send side ended while this read was pending (EndSend cancelled it).
                _output.Reader.Complete();
                return;
            }

            if (_shutdownReason is not null && (_socketClosed || result.IsCanceled))
            {
                EndSend(null);
                return;
            }

            Send();
        }
        catch (Exception ex)
        {
            OnLoopError(ex);
        }
    }

    /// <summary>
    /// One non-blocking sendmsg of up to <see cref="MaxVectors"/> segments of
    /// <paramref name="bytes"/>; <paramref name="offered"/> is how many bytes it offered (fewer sent
    /// means the socket is full).
    /// </summary>
    private unsafe long SendBytes(in ReadOnlySequence<byte> bytes, SendFlags flags, out long offered, out Errno errno)
    {
        if (bytes.IsSingleSegment)
        {
            offered = bytes.Length;
            fixed (byte* start = bytes.FirstSpan)
            {
                var vector = new IoVec { Base = start, Length = (nuint)bytes.Length };
                long sent;
                do
                {
                    sent = _syscalls.SendGather(_fd, &vector, 1, flags, out errno);
                }
                while (sent < 0 && errno == Errno.EINTR);

                return sent;
            }
        }

        var vectors = stackalloc IoVec[MaxVectors];
        var handles = _loop.PinScratch;
        var count = 0;
        offered = 0;
        try
        {
            foreach (var segment in bytes)
            {
                if (segment.IsEmpty)
                {
                    continue;
                }

                if (count == MaxVectors)
                {
                    // Not all of it: no MSG_MORE, the rest follows in the next call.
                    flags &= ~SendFlags.MSG_MORE;
                    break;
                }

                handles[count] = segment.Pin();
                vectors[count] = new IoVec { Base = (byte*)handles[count].Pointer, Length = (nuint)segment.Length };
                offered += segment.Length;
                count++;
            }

            long sent;
            do
            {
                sent = _syscalls.SendGather(_fd, vectors, count, flags, out errno);
            }
            while (sent < 0 && errno == Errno.EINTR);

            return sent;
        }
        finally
        {
            for (var i = 0; i < count; i++)
            {
                handles[i].Dispose();
            }
        }
    }

    /// <summary>The exception for a failed socket call: a reset (logged as such) or an I/O error (logged unless the socket is gone).</summary>
    private Exception SocketError(string call, Errno errno)
    {
        if (errno is Errno.ECONNRESET or Errno.EPIPE or Errno.ESHUTDOWN)
        {
            TransportLog.ConnectionReset(_logger, ConnectionId);
            return new ConnectionResetException($"{call} failed: {errno.Message()} ({errno}).");
        }

        var error = new IOException($"{call} failed: {errno.Message()} ({errno}).");
        if (errno is not (Errno.EBADF or Errno.ENOTCONN))
        {
            TransportLog.ConnectionError(_logger, ConnectionId, error);
        }

        return error;
    }

    /// <summary>
    /// Loop: the send side is over. Closes the socket (FIN when graceful or the reason asks for it,
    /// RST otherwise, as the Sockets engine does), completes the output reader, releases queued
    /// regions and ends the receive side, which cannot go on without the socket. Once.
    /// </summary>
    private void EndSend(Exception? reason, bool reset = true)
    {
        if (!_sending)
        {
            return;
        }

        _sending = false;
        SetShutdownReason(reason, reset && reason is not null);
        CloseSocket();
        EndRegion();
        if (_outputReadPending)
        {
            // A reader may not complete under its own pending read: the cancelled read's
            // continuation completes it (OnOutputReadable).
            _output.Reader.CancelPendingRead();
        }
        else
        {
            _output.Reader.Complete(reason is ConnectionResetException or ConnectionAbortedException ? null : reason);
        }

        _regions.Close();
        if (_receivePaused)
        {
            _input.Writer.CancelPendingFlush();
        }
        else
        {
            EndReceive(null);
        }

        EndedIfDone();
    }

    private enum SendState
    {
        /// <summary>No region is due at this position: send pipe bytes.</summary>
        Continue,

        /// <summary>A region is waiting for the socket, a worker or the end of the connection.</summary>
        Wait,

        /// <summary>A region used the turn's budget: come back after the others.</summary>
        Yield,
    }
}

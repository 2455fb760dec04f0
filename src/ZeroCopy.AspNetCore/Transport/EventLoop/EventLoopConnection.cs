using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Transport.EventLoop;

/// <summary>
/// One accepted socket served by an <see cref="EventLoop"/>: the loop thread receives into the
/// input pipe and sends the output pipe (and its file regions) itself, with non-blocking syscalls,
/// woken by edge-triggered epoll events. Kestrel's side of both pipes keeps the thread pool (or runs
/// inline under <c>UnsafePreferInlineScheduling</c>).
/// </summary>
/// <remarks>
/// <para>
/// Ownership: every syscall on the socket, the epoll registration and the close happen on the loop
/// thread. Other threads (Kestrel, the application, the rate monitor) only record a shutdown reason
/// and schedule work on the loop.
/// </para>
/// <para>
/// Edge-triggered rules (epoll(7)): <c>_readable</c>/<c>_writable</c> are set by events and cleared only
/// by EAGAIN or a short read/write (on a stream socket a short count means the buffer is drained or
/// full). Whenever the loop stops reading or sending before that (a paused input, a used budget) it
/// resumes by itself, because no new edge comes for data already queued.
/// </para>
/// <para>
/// Behaves like Kestrel's socket connection and <see cref="ZeroCopyConnection"/>: an abort resets
/// (RST), a completed output ends with FIN after every queued byte, <c>ConnectionClosed</c>
/// fires when the receive side ends, and shutdown happens once.
/// </para>
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed partial class EventLoopConnection : TransportConnection, ILoopHandler
{
    private readonly SafeHandle _fd;
    private readonly EventLoop _loop;
    private readonly ZeroCopySyscalls _syscalls;
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _resetOnShutdown;

    // Loop thread only.
    private int _token = -1;
    private bool _socketClosed;

    public EventLoopConnection(Socket socket, EventLoop loop, ConnectionSettings settings, ILogger logger)
        : base(socket, settings, logger, "zl")
    {
        _fd = socket.SafeHandle;
        _loop = loop;
        _syscalls = settings.Syscalls ?? ZeroCopySyscalls.Linux;
        _onOutputReadable = OnOutputReadable;
        _onInputFlushed = OnInputFlushed;
        InitializeFeatures(offersRegions: true);
    }

    /// <summary>Hands the connection to its loop, which registers the socket and starts both sides.</summary>
    public void Start()
    {
        _settings.RateMonitor.Register(this);
        _loop.Post(static state => ((EventLoopConnection)state!).Attach(), this);
    }

    /// <summary>Loop: epoll registration (once, edge-triggered, both directions), then the send side waits for output.</summary>
    private void Attach()
    {
        if (_shutdownReason is not null)
        {
            // Aborted before the loop got to it.
            CloseSocket();
            EndReceive(null);
            EndSend(null);
            return;
        }

        var errno = _loop.Register(_fd, EpollEvents.EPOLLIN | EpollEvents.EPOLLOUT | EpollEvents.EPOLLRDHUP | EpollEvents.EPOLLET, this, out _token);
        if (errno != Errno.None)
        {
            OnLoopError(new IOException($"epoll_ctl(EPOLL_CTL_ADD) failed: {errno.Message()} ({errno})."));
            return;
        }

        // An already readable socket is reported by the next epoll_wait (ep_insert polls it), so
        // bytes that arrived before the registration are not lost.
        Send();
    }

    void ILoopHandler.OnEvents(EpollEvents events)
    {
        // EPOLLERR and EPOLLHUP make both directions "ready": the next syscall reports the error.
        if ((events & (EpollEvents.EPOLLIN | EpollEvents.EPOLLRDHUP | EpollEvents.EPOLLHUP | EpollEvents.EPOLLERR)) != 0)
        {
            _readable = true;
            if ((events & (EpollEvents.EPOLLRDHUP | EpollEvents.EPOLLHUP | EpollEvents.EPOLLERR)) != 0)
            {
                // The peer's FIN (or an error) is queued behind the data: a short read no longer
                // proves the socket drained, only recv returning 0 (or the error) ends it.
                _peerHungUp = true;
            }
            if (_receiving && !_receivePaused)
            {
                Receive();
            }
        }

        if ((events & (EpollEvents.EPOLLOUT | EpollEvents.EPOLLHUP | EpollEvents.EPOLLERR)) != 0)
        {
            if (_waitingForWritable)
            {
                _waitingForWritable = false;
                Send();
            }
        }
    }

    /// <summary>Loop: a step of this connection threw. Log it and end the connection with RST; the loop goes on.</summary>
    public void OnLoopError(Exception error)
    {
        TransportLog.LoopConnectionFailed(_logger, ConnectionId, error);
        SetShutdownReason(new ConnectionAbortedException("The zero-copy event loop failed while serving the connection.", error), reset: true);
        CloseSocket();
        EndSend(error);
        if (_receivePaused)
        {
            // A paused receive ends through its cancelled flush.
            _input.Writer.CancelPendingFlush();
        }
        else
        {
            EndReceive(error);
        }
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        // As Kestrel's socket transport: reset, except when Kestrel passes null (the client ended
        // the connection) or under FinOnError, which end with FIN.
        if (SetShutdownReason(abortReason, reset: abortReason is not null))
        {
            _loop.Schedule(static state => ((EventLoopConnection)state!).OnAborted(), this);
        }
    }

    private void OnAborted()
    {
        CloseSocket();
        if (_outputReadPending)
        {
            // The pending read completes (cancelled) on the loop and ends the send side there.
            _output.Reader.CancelPendingRead();
        }
        else
        {
            EndSend(null);
        }

        if (_receivePaused)
        {
            // Same for a receive waiting for Kestrel to read.
            _input.Writer.CancelPendingFlush();
        }
        else
        {
            EndReceive(null);
        }
    }

    /// <returns>True for the call that set the reason (the first).</returns>
    private bool SetShutdownReason(Exception? reason, bool reset)
    {
        lock (_shutdownLock)
        {
            if (_shutdownReason is not null)
            {
                return false;
            }

            _shutdownReason = reason ?? new ConnectionAbortedException("The zero-copy transport's send loop completed gracefully.");
            _resetOnShutdown = reset && !_settings.FinOnError;
            return true;
        }
    }

    /// <summary>Loop: leaves epoll and closes the socket, with RST or FIN as the shutdown reason says. Once.</summary>
    private void CloseSocket()
    {
        if (_socketClosed)
        {
            return;
        }

        _socketClosed = true;
        SetShutdownReason(null, reset: false);
        if (_loop.IsCurrent)
        {
            _loop.Unregister(_token, _fd);
        }

        _loop.RemoveConnection();
        if (_resetOnShutdown)
        {
            TransportLog.ConnectionWriteRst(_logger, ConnectionId, _shutdownReason!.Message);
            // Linger 0: RST, and the kernel drops anything still queued.
            _socket.Close(0);
            return;
        }

        TransportLog.ConnectionWriteFin(_logger, ConnectionId, _shutdownReason!.Message);
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already disconnected.
        }
        catch (ObjectDisposedException)
        {
        }

        _socket.Dispose();
    }

    /// <summary>Loop: both sides are over; whoever disposes the connection may finish.</summary>
    private void EndedIfDone()
    {
        if (!_receiving && !_sending)
        {
            _ended.TrySetResult();
        }
    }

    private protected override async ValueTask DisposeEngineAsync()
    {
        _originalTransport.Input.Complete();
        _originalTransport.Output.Complete();
        try
        {
            await _ended.Task;
            await ClosedCallbacksDone;
        }
        catch (Exception ex)
        {
            TransportLog.UnexpectedError(_logger, ConnectionId, nameof(DisposeAsync), ex);
        }
        finally
        {
            _settings.RateMonitor.Unregister(this);
            _regions.Close();
        }
    }
}

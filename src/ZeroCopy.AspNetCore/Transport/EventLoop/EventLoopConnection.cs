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
/// (RST), a completed output ends with FIN after every queued byte, <see cref="ConnectionClosed"/>
/// fires when the receive side ends, and shutdown happens once.
/// </para>
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed partial class EventLoopConnection : ConnectionContext, ILoopHandler
{
    private static long s_lastId = Stopwatch.GetTimestamp();

    private readonly Socket _socket;
    private readonly SafeHandle _fd;
    private readonly EventLoop _loop;
    private readonly ConnectionSettings _settings;
    private readonly ZeroCopySyscalls _syscalls;
    private readonly ILogger _logger;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly RegionQueue _regions;
    private readonly RegionPipeWriter _outputWriter;
    private readonly DuplexPipe _originalTransport;
    private readonly CancellationTokenSource _connectionClosedSource = new();
    private readonly TaskCompletionSource _closedCallbacksDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _shutdownLock = new();
    private readonly long _numericId;
    private readonly FeatureCollection _features = new();

    private string? _connectionId;
    private IDictionary<object, object?>? _items;
    private volatile Exception? _shutdownReason;
    private bool _resetOnShutdown;
    private int _connectionClosedFired;

    // Loop thread only.
    private int _token = -1;
    private bool _socketClosed;

    public EventLoopConnection(Socket socket, EventLoop loop, ConnectionSettings settings, ILogger logger)
    {
        _socket = socket;
        _fd = socket.SafeHandle;
        _loop = loop;
        _settings = settings;
        _syscalls = settings.Syscalls ?? ZeroCopySyscalls.Linux;
        _logger = logger;
        _numericId = Interlocked.Increment(ref s_lastId);
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
        ConnectionClosed = _connectionClosedSource.Token;

        _input = new Pipe(settings.InputOptions);
        _output = new Pipe(settings.OutputOptions);
        _regions = new RegionQueue(settings.MaxQueuedRegions);
        _outputWriter = new RegionPipeWriter(_output, _regions, AbortForRegion, settings.RegionReleaseThreshold > 0 ? settings.RegionReleaseThreshold : long.MaxValue);
        _originalTransport = new DuplexPipe(_input.Reader, _outputWriter);
        Transport = _originalTransport;
        _onOutputReadable = OnOutputReadable;
        _onInputFlushed = OnInputFlushed;
        InitializeFeatures();
    }

    public override string ConnectionId
    {
        get => _connectionId ??= "zl" + _numericId.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
        set => _connectionId = value;
    }

    public override IFeatureCollection Features => _features;

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new ConnectionItems();
        set => _items = value;
    }

    public override IDuplexPipe Transport { get; set; }

    public override CancellationToken ConnectionClosed { get; set; }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    public MemoryPool<byte> MemoryPool => _settings.MemoryPool;

    /// <summary>True once the connection is shutting down (aborted, reset, or finished).</summary>
    internal bool IsShutDown => _shutdownReason is not null;

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
        EndReceive(error);
        EndSend(error);
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

    /// <summary>Called by the output writer when the region protocol is broken.</summary>
    private void AbortForRegion(string reason)
    {
        if (IsShutDown)
        {
            TransportLog.RegionAbandoned(_logger, ConnectionId, reason);
            return;
        }

        TransportLog.RegionViolation(_logger, ConnectionId, reason);
        Abort(new ConnectionAbortedException(reason));
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

    public override async ValueTask DisposeAsync()
    {
        _originalTransport.Input.Complete();
        _originalTransport.Output.Complete();
        try
        {
            await _ended.Task;
            await _closedCallbacksDone.Task;
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

        _connectionClosedSource.Dispose();
        await base.DisposeAsync();
    }

    private void FireConnectionClosed()
    {
        if (Interlocked.Exchange(ref _connectionClosedFired, 1) != 0)
        {
            return;
        }

        // Off the loop thread: user callbacks on ConnectionClosed may block.
        ThreadPool.UnsafeQueueUserWorkItem(
            static connection =>
            {
                try
                {
                    connection._connectionClosedSource.Cancel();
                }
                catch (AggregateException ex)
                {
                    TransportLog.UnexpectedError(connection._logger, connection.ConnectionId, nameof(ConnectionClosed), ex);
                }

                connection._closedCallbacksDone.TrySetResult();
            },
            this,
            preferLocal: false);
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}

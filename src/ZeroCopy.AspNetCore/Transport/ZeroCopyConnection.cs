using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>
/// One accepted socket: a receive loop filling the input pipe and a send loop draining the output
/// pipe, which also sends the file regions recorded by <see cref="RegionPipeWriter"/>.
/// </summary>
/// <remarks>
/// Behaves like Kestrel's socket connection: <see cref="Abort(ConnectionAbortedException)"/> resets
/// the connection (RST), a completed output shuts it down gracefully (FIN) after every queued byte
/// and region left, <see cref="ConnectionClosed"/> fires when the peer's side ends, and shutdown is
/// idempotent under a lock.
/// </remarks>
internal sealed partial class ZeroCopyConnection : ConnectionContext, IRegionOwner, IRateLimitedConnection
{
    private static long s_lastId = Stopwatch.GetTimestamp();

    private readonly Socket _socket;
    private readonly ConnectionSettings _settings;
    private readonly ILogger _logger;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly RegionQueue _regions;
    private readonly RegionPipeWriter _outputWriter;
    private readonly DuplexPipe _originalTransport;
    private readonly SocketReceiver _receiver;
    private readonly SocketSender _sender;
    private readonly RegionSender? _regionSender;
    private readonly CancellationTokenSource _connectionClosedSource = new();
    private readonly TaskCompletionSource _closedCallbacksDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _shutdownLock = new();
    private readonly long _numericId;
    private readonly FeatureCollection _features = new();

    private string? _connectionId;
    private IDictionary<object, object?>? _items;
    private volatile Exception? _shutdownReason;
    private Task _receiveTask = Task.CompletedTask;
    private Task _sendTask = Task.CompletedTask;
    private int _connectionClosedFired;
    private long _regionDeadline;

    public ZeroCopyConnection(Socket socket, ConnectionSettings settings, ILogger logger)
    {
        _socket = socket;
        _settings = settings;
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

        // Receive completions run inline, as in Kestrel's socket transport: the input pipe's
        // scheduler already moves Kestrel's side onto the thread pool.
        _receiver = new SocketReceiver(PipeScheduler.Inline);
        _sender = new SocketSender(PipeScheduler.Inline);
        if (LinuxOnly.IsSupported)
        {
            _regionSender = new RegionSender(socket, settings, logger, this);
        }

        InitializeFeatures();
    }

    public override string ConnectionId
    {
        get => _connectionId ??= "zc" + _numericId.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
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

    public Socket Socket => _socket;

    /// <summary>True once the connection is shutting down (aborted, reset, or finished).</summary>
    internal bool IsShutDown => _shutdownReason is not null;

    bool IRegionOwner.IsShutDown => IsShutDown;

    /// <summary>Stopwatch timestamp after which the region being sent is too slow; 0 when none is.</summary>
    public long RegionDeadline => Volatile.Read(ref _regionDeadline);

    public void Start()
    {
        try
        {
            _settings.RateMonitor.Register(this);
            // The first asynchronous operation makes the runtime put the descriptor in O_NONBLOCK
            // mode (Socket.Blocking stays true for synchronous callers, as on Kestrel's transport).
            // The engines call sendfile/splice on the descriptor directly and rely on that; no
            // region can exist before a request was received.
            _receiveTask = ReceiveLoopAsync();
            _sendTask = SendLoopAsync();
        }
        catch (Exception ex)
        {
            TransportLog.UnexpectedError(_logger, ConnectionId, nameof(Start), ex);
        }
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        // Like Kestrel's socket transport: stop the send loop and reset the connection. Kestrel
        // passes null when the client ended the connection (FIN); that ends it with a FIN too, and
        // so does every abort under Kestrel's FinOnError switch.
        Shutdown(abortReason, reset: abortReason is not null);
        _output.Reader.CancelPendingRead();
    }

    /// <summary>Called by the output writer when the region protocol is broken.</summary>
    private void AbortForRegion(string reason)
    {
        if (IsShutDown)
        {
            // Kestrel's output stops passing Advance on once the connection is aborted (a client
            // reset, HttpContext.Abort()), so a region begun just before that never fills. Nothing
            // can be sent any more: not a protocol violation.
            TransportLog.RegionAbandoned(_logger, ConnectionId, reason);
            return;
        }

        TransportLog.RegionViolation(_logger, ConnectionId, reason);
        Abort(new ConnectionAbortedException(reason));
    }

    public void AbortForSlowRegion()
    {
        TransportLog.RegionRateTooSlow(_logger, ConnectionId);
        Abort(new ConnectionAbortedException("The connection was aborted because the client did not read a file body at the minimum response data rate."));
    }

    public override async ValueTask DisposeAsync()
    {
        _originalTransport.Input.Complete();
        _originalTransport.Output.Complete();
        try
        {
            await _receiveTask;
            await _sendTask;
        }
        catch (Exception ex)
        {
            TransportLog.UnexpectedError(_logger, ConnectionId, nameof(DisposeAsync), ex);
        }
        finally
        {
            _settings.RateMonitor.Unregister(this);
            _regions.Close();
            _receiver.Dispose();
            _sender.Dispose();
            if (LinuxOnly.IsSupported)
            {
                _regionSender?.Dispose();
            }
        }

        _connectionClosedSource.Dispose();
        await base.DisposeAsync();
    }

    private void Shutdown(Exception? reason, bool reset)
    {
        lock (_shutdownLock)
        {
            if (_shutdownReason is not null)
            {
                return;
            }

            _shutdownReason = reason ?? new ConnectionAbortedException("The zero-copy transport's send loop completed gracefully.");
            Volatile.Write(ref _regionDeadline, 0);
            if (reset && !_settings.FinOnError)
            {
                TransportLog.ConnectionWriteRst(_logger, ConnectionId, _shutdownReason.Message);
                // Linger 0: RST, and the kernel drops anything still queued.
                _socket.Close(0);
                return;
            }

            TransportLog.ConnectionWriteFin(_logger, ConnectionId, _shutdownReason.Message);
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
    }

    private void FireConnectionClosed()
    {
        if (Interlocked.Exchange(ref _connectionClosedFired, 1) != 0)
        {
            return;
        }

        // Off the socket's completion thread: user callbacks on ConnectionClosed may block.
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

    private static bool IsConnectionReset(SocketError error)
        => error is SocketError.ConnectionReset or SocketError.Shutdown
            || (error == SocketError.ConnectionAborted && OperatingSystem.IsWindows());

    private static bool IsConnectionAbort(SocketError error)
        => error is SocketError.OperationAborted or SocketError.Interrupted
            || (error == SocketError.InvalidArgument && !OperatingSystem.IsWindows());

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}

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
/// and region left, <c>ConnectionClosed</c> fires when the peer's side ends, and shutdown is
/// idempotent under a lock.
/// </remarks>
internal sealed partial class ZeroCopyConnection : TransportConnection, IRegionOwner, IRateLimitedConnection
{
    private readonly SocketReceiver _receiver;
    private readonly SocketSender _sender;
    private readonly RegionSender? _regionSender;
    private Task _receiveTask = Task.CompletedTask;
    private Task _sendTask = Task.CompletedTask;
    private long _regionDeadline;

    public ZeroCopyConnection(Socket socket, ConnectionSettings settings, ILogger logger)
        : base(socket, settings, logger, "zc")
    {
        // Receive completions run inline, as in Kestrel's socket transport: the input pipe's
        // scheduler already moves Kestrel's side onto the thread pool.
        _receiver = new SocketReceiver(PipeScheduler.Inline);
        _sender = new SocketSender(PipeScheduler.Inline);
        if (LinuxOnly.IsSupported)
        {
            _regionSender = new RegionSender(socket, settings, logger, this);
        }

        InitializeFeatures(offersRegions: _regionSender is not null);
    }

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

    public void AbortForSlowRegion()
    {
        TransportLog.RegionRateTooSlow(_logger, ConnectionId);
        Abort(new ConnectionAbortedException("The connection was aborted because the client did not read a file body at the minimum response data rate."));
    }

    private protected override async ValueTask DisposeEngineAsync()
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

    private static bool IsConnectionReset(SocketError error)
        => error is SocketError.ConnectionReset or SocketError.Shutdown
            || (error == SocketError.ConnectionAborted && OperatingSystem.IsWindows());

    private static bool IsConnectionAbort(SocketError error)
        => error is SocketError.OperationAborted or SocketError.Interrupted
            || (error == SocketError.InvalidArgument && !OperatingSystem.IsWindows());
}

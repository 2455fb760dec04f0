using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>
/// Accepts sockets for one endpoint, with the semantics of Kestrel's socket listener:
/// <see cref="AcceptAsync"/> returns null once unbound, address in use becomes
/// <see cref="AddressInUseException"/>.
/// </summary>
internal sealed class ZeroCopyConnectionListener : IConnectionListener
{
    // A failed accept for lack of descriptors or memory pauses accepting (the connection waits in
    // the backlog) instead of retrying at once, which would spin: 100 ms, doubling up to 1 s.
    private const int FirstPauseMs = 100;
    private const int MaxPauseMs = 1000;

    private readonly SocketTransportOptions _options;
    private readonly Func<Socket, ConnectionContext> _serve;
    private readonly ILogger _logger;
    private Socket? _listenSocket;
    private int _pauseMs;

    /// <param name="endpoint">Where to listen.</param>
    /// <param name="options">Kestrel's socket options (backlog, NoDelay, the socket factory).</param>
    /// <param name="serve">Starts serving an accepted socket (the engine's connection).</param>
    /// <param name="logger">The transport's logger.</param>
    public ZeroCopyConnectionListener(EndPoint endpoint, SocketTransportOptions options, Func<Socket, ConnectionContext> serve, ILogger logger)
    {
        EndPoint = endpoint;
        _options = options;
        _serve = serve;
        _logger = logger;
    }

    public EndPoint EndPoint { get; private set; }

    public void Bind()
    {
        if (_listenSocket is not null)
        {
            throw new InvalidOperationException("The transport is already bound.");
        }

        Socket socket;
        try
        {
            // The application's socket factory, as Kestrel's socket transport uses it (the default
            // binds, with DualMode for IPv6Any).
            socket = _options.CreateBoundListenSocket(EndPoint);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new AddressInUseException(ex.Message, ex);
        }

        EndPoint = socket.LocalEndPoint!;
        socket.Listen(_options.Backlog);
        _listenSocket = socket;
    }

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            try
            {
                var socket = await _listenSocket!.AcceptAsync(cancellationToken);
                _pauseMs = 0;
                if (socket.LocalEndPoint is IPEndPoint)
                {
                    socket.NoDelay = _options.NoDelay;
                }

                return _serve(socket);
            }
            catch (ObjectDisposedException)
            {
                return null;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.OperationAborted)
            {
                return null;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
            {
                // EMFILE/ENFILE (TooManyOpenSockets), ENOBUFS/ENOMEM: the connection stays in the
                // kernel's backlog; try again once descriptors may have been freed. An exception
                // out of AcceptAsync would end Kestrel's accept loop for good.
                _pauseMs = _pauseMs == 0 ? FirstPauseMs : Math.Min(_pauseMs * 2, MaxPauseMs);
                Diagnostics.TransportLog.AcceptPaused(_logger, EndPoint.ToString(), ex.SocketErrorCode.ToString(), _pauseMs);
                try
                {
                    await Task.Delay(_pauseMs, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return null;
                }
            }
            catch (SocketException)
            {
                // The peer gave up between the SYN and the accept: keep accepting.
                Diagnostics.TransportLog.ConnectionReset(_logger, "(null)");
            }
        }
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        _listenSocket?.Dispose();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        _listenSocket?.Dispose();
        return ValueTask.CompletedTask;
    }
}

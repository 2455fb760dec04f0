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
    private readonly SocketTransportOptions _options;
    private readonly ConnectionSettings[] _queues;
    private readonly ILogger _logger;
    private Socket? _listenSocket;
    private long _next;

    public ZeroCopyConnectionListener(EndPoint endpoint, SocketTransportOptions options, ConnectionSettings[] queues, ILogger logger)
    {
        EndPoint = endpoint;
        _options = options;
        _queues = queues;
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
                if (socket.LocalEndPoint is IPEndPoint)
                {
                    socket.NoDelay = _options.NoDelay;
                }

                var settings = _queues[(int)((ulong)Interlocked.Increment(ref _next) % (ulong)_queues.Length)];
                var connection = new ZeroCopyConnection(socket, settings, _logger);
                connection.Start();
                return connection;
            }
            catch (ObjectDisposedException)
            {
                return null;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.OperationAborted)
            {
                return null;
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

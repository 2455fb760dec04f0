using System.Net.Sockets;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Transport.EventLoop;

/// <summary>
/// The loops of the EventLoop engine. Each listener's accepted sockets go to the loop with the
/// fewest connections (ties in turn), which then owns them for life.
/// </summary>
/// <remarks>
/// Accepting stays on each listener's <see cref="Socket.AcceptAsync(CancellationToken)"/>: Kestrel's
/// accept loop runs on the thread pool anyway and hands every connection to the thread pool
/// (ConnectionDispatcher), so accepting on a loop would save one hop per connection, not per
/// request, and would bypass the listener semantics the Sockets engine shares with Kestrel. The
/// least-loaded choice balances few long connections exactly, which SO_REUSEPORT's 4-tuple hash
/// does not (docs/design/event-loop-engine.md §5.3).
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed class EventLoopGroup : IDisposable, ILoopStatistics
{
    private readonly EventLoop[] _loops;
    private readonly ConnectionSettings[] _settings;
    private readonly ILogger _logger;
    private int _next;

    public EventLoopGroup(int count, Func<EventLoop, ConnectionSettings> settingsFor, ILogger logger)
    {
        _logger = logger;
        _loops = new EventLoop[count];
        _settings = new ConnectionSettings[count];
        try
        {
            for (var i = 0; i < count; i++)
            {
                _loops[i] = new EventLoop(i, logger);
                _settings[i] = settingsFor(_loops[i]);
            }
        }
        catch
        {
            Dispose();
            throw;
        }

        foreach (var loop in _loops)
        {
            loop.Start();
        }
    }

    public IReadOnlyList<EventLoop> Loops => _loops;

    int ILoopStatistics.LoopCount => _loops.Length;

    int ILoopStatistics.ConnectionsOf(int loop) => _loops[loop].ConnectionCount;

    /// <summary>Gives an accepted socket to the least-loaded loop and starts serving it there.</summary>
    public EventLoopConnection Accept(Socket socket)
    {
        var errno = Interop.SetNonBlocking(socket.SafeHandle);
        if (errno != Errno.None)
        {
            socket.Dispose();
            throw new SocketException((int)SocketError.SocketError, $"fcntl(O_NONBLOCK) failed: {errno.Message()} ({errno}).");
        }

        var start = (int)((uint)Interlocked.Increment(ref _next) % (uint)_loops.Length);
        var chosen = start;
        var fewest = int.MaxValue;
        for (var i = 0; i < _loops.Length; i++)
        {
            var index = (start + i) % _loops.Length;
            var connections = _loops[index].ConnectionCount;
            if (connections < fewest)
            {
                fewest = connections;
                chosen = index;
            }
        }

        var loop = _loops[chosen];
        loop.AddConnection();
        var connection = new EventLoopConnection(socket, loop, _settings[chosen], _logger);
        connection.Start();
        return connection;
    }

    public void Dispose()
    {
        foreach (var loop in _loops)
        {
            loop?.Dispose();
        }
    }
}

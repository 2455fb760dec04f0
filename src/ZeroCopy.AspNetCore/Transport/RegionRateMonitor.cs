using System.Collections.Concurrent;
using System.Diagnostics;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>A connection whose file regions are held to Kestrel's minimum response data rate.</summary>
internal interface IRateLimitedConnection
{
    /// <summary>Stopwatch timestamp after which the region being sent is too slow; 0 when none is.</summary>
    long RegionDeadline { get; }

    /// <summary>Aborts the connection (from the monitor's timer thread).</summary>
    void AbortForSlowRegion();
}

/// <summary>
/// Enforces Kestrel's minimum response data rate on file regions, which Kestrel cannot see (it only
/// times flushes of bytes it wrote). Once a second, any connection whose region has not finished by
/// its deadline is aborted, as Kestrel aborts a write that is too slow.
/// </summary>
internal sealed class RegionRateMonitor : IDisposable
{
    private static readonly TimeSpan s_interval = TimeSpan.FromSeconds(1);
    private readonly ConcurrentDictionary<IRateLimitedConnection, byte> _connections = new();
    private readonly Timer _timer;
    private long _lastTick = Stopwatch.GetTimestamp();

    public RegionRateMonitor()
    {
        _timer = new Timer(static state => ((RegionRateMonitor)state!).Tick(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _timer.Change(s_interval, s_interval);
    }

    public void Register(IRateLimitedConnection connection) => _connections.TryAdd(connection, 0);

    public void Unregister(IRateLimitedConnection connection) => _connections.TryRemove(connection, out _);

    private void Tick()
    {
        var now = Stopwatch.GetTimestamp();
        // If this timer itself ran late (a paused process, a starved thread pool), the clients were
        // not the slow ones: give them the lost time back, as Kestrel's heartbeat does.
        var late = now - _lastTick - (long)(s_interval.TotalSeconds * Stopwatch.Frequency);
        _lastTick = now;
        var slack = late > Stopwatch.Frequency ? late : 0;
        foreach (var connection in _connections.Keys)
        {
            var deadline = connection.RegionDeadline;
            if (deadline != 0 && now - slack > deadline)
            {
                connection.AbortForSlowRegion();
            }
        }
    }

    public void Dispose() => _timer.Dispose();
}

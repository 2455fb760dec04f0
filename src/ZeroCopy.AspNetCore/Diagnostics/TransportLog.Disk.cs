using Microsoft.Extensions.Logging;

namespace ZeroCopy.AspNetCore.Diagnostics;

/// <summary>Log events of the EventLoop engine's disk offload (ids 380-389 of the transport's range).</summary>
internal static partial class TransportLog
{
    [LoggerMessage(380, LogLevel.Information, "cachestat(2) is unavailable ({Errno}: {Message}); the disk offload probes the page cache with preadv2(RWF_NOWAIT) instead.", EventName = "CacheProbeUnavailable")]
    public static partial void CacheProbeUnavailable(ILogger logger, string errno, string message);

    [LoggerMessage(381, LogLevel.Warning, "Connection id \"{ConnectionId}\": reading \"{Path}\" into the page cache failed: {Errno} ({Message}).", EventName = "DiskWarmFailed")]
    public static partial void DiskWarmFailed(ILogger logger, string connectionId, string? path, string errno, string message);

    [LoggerMessage(382, LogLevel.Debug, "Connection id \"{ConnectionId}\": a transfer from \"{Path}\" held event loop {Loop} for {Milliseconds:F1} ms although the probe found its pages cached.", EventName = "SlowCachedTransfer")]
    public static partial void SlowCachedTransfer(ILogger logger, string connectionId, string? path, int loop, double milliseconds);

    [LoggerMessage(383, LogLevel.Debug, "Connection id \"{ConnectionId}\": the disk workers' queue is full; a chunk of \"{Path}\" that is not cached is sent from event loop {Loop}.", EventName = "DiskQueueFull")]
    public static partial void DiskQueueFull(ILogger logger, string connectionId, string? path, int loop);
}

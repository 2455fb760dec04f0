using Microsoft.Extensions.Logging;

namespace ZeroCopy.AspNetCore.Diagnostics;

/// <summary>
/// Log events of the zero-copy transport (category <c>ZeroCopy.AspNetCore.Transport</c>, ids
/// 300-399). The connection lifecycle events mirror those of Kestrel's socket transport.
/// </summary>
internal static partial class TransportLog
{
    public const string Category = "ZeroCopy.AspNetCore.Transport";

    [LoggerMessage(300, LogLevel.Debug, "Connection id \"{ConnectionId}\" received FIN.", EventName = "ConnectionReadFin")]
    public static partial void ConnectionReadFin(ILogger logger, string connectionId);

    [LoggerMessage(301, LogLevel.Debug, "Connection id \"{ConnectionId}\" sending FIN because: \"{Reason}\"", EventName = "ConnectionWriteFin")]
    public static partial void ConnectionWriteFin(ILogger logger, string connectionId, string reason);

    [LoggerMessage(302, LogLevel.Debug, "Connection id \"{ConnectionId}\" sending RST because: \"{Reason}\"", EventName = "ConnectionWriteRst")]
    public static partial void ConnectionWriteRst(ILogger logger, string connectionId, string reason);

    [LoggerMessage(303, LogLevel.Debug, "Connection id \"{ConnectionId}\" reset.", EventName = "ConnectionReset")]
    public static partial void ConnectionReset(ILogger logger, string connectionId);

    [LoggerMessage(304, LogLevel.Debug, "Connection id \"{ConnectionId}\" communication error.", EventName = "ConnectionError")]
    public static partial void ConnectionError(ILogger logger, string connectionId, Exception ex);

    [LoggerMessage(305, LogLevel.Error, "Unexpected exception in {Where} of connection id \"{ConnectionId}\".", EventName = "UnexpectedError")]
    public static partial void UnexpectedError(ILogger logger, string connectionId, string where, Exception ex);

    [LoggerMessage(306, LogLevel.Error, "Connection id \"{ConnectionId}\" aborted: file region protocol violated: {Reason}", EventName = "RegionViolation")]
    public static partial void RegionViolation(ILogger logger, string connectionId, string reason);

    [LoggerMessage(307, LogLevel.Information, "Connection id \"{ConnectionId}\" aborted: the client did not read a file body at the minimum response data rate.", EventName = "RegionRateTooSlow")]
    public static partial void RegionRateTooSlow(ILogger logger, string connectionId);

    [LoggerMessage(308, LogLevel.Warning, "Connection id \"{ConnectionId}\": the file {Path} ended before the {Count} bytes of its response were sent (it was truncated while being served); the connection was closed early.", EventName = "RegionFileEnded")]
    public static partial void RegionFileEnded(ILogger logger, string connectionId, string? path, long count);

    [LoggerMessage(309, LogLevel.Debug, "Connection id \"{ConnectionId}\": {From} is not supported for {Path}; using {To}.", EventName = "EngineFallback")]
    public static partial void EngineFallback(ILogger logger, string connectionId, string? path, string from, string to);

    [LoggerMessage(310, LogLevel.Warning, "Connection id \"{ConnectionId}\": {Call} failed for {Path}: {Errno} ({Message}); the connection was aborted.", EventName = "RegionSyscallFailed")]
    public static partial void RegionSyscallFailed(ILogger logger, string connectionId, string? path, string call, string errno, string message);

    [LoggerMessage(311, LogLevel.Warning, "Connection id \"{ConnectionId}\": the file {Path} changed while its response was being sent ({Sent} of {Count} bytes sent); the connection was reset rather than mixing two versions.", EventName = "RegionFileChanged")]
    public static partial void RegionFileChanged(ILogger logger, string connectionId, string? path, long sent, long count);

    [LoggerMessage(312, LogLevel.Debug, "Connection id \"{ConnectionId}\": a file region was left unfinished because the connection had already ended: {Reason}", EventName = "RegionAbandoned")]
    public static partial void RegionAbandoned(ILogger logger, string connectionId, string reason);

    [LoggerMessage(320, LogLevel.Critical, "Event loop {Loop}: epoll_wait failed: {Errno} ({Message}); the loop stopped and its connections were aborted.", EventName = "LoopFailed")]
    public static partial void LoopFailed(ILogger logger, int loop, string errno, string message);

    [LoggerMessage(321, LogLevel.Critical, "Event loop {Loop} failed; the loop stopped and its connections were aborted.", EventName = "LoopCrashed")]
    public static partial void LoopCrashed(ILogger logger, int loop, Exception exception);

    [LoggerMessage(322, LogLevel.Error, "Event loop {Loop}: a callback failed.", EventName = "LoopCallbackFailed")]
    public static partial void LoopCallbackFailed(ILogger logger, int loop, Exception exception);

    [LoggerMessage(323, LogLevel.Error, "Event loop {Loop} did not stop within 5 seconds.", EventName = "LoopStuck")]
    public static partial void LoopStuck(ILogger logger, int loop);

    [LoggerMessage(324, LogLevel.Error, "Connection id \"{ConnectionId}\": the event loop failed while serving the connection; it was aborted.", EventName = "LoopConnectionFailed")]
    public static partial void LoopConnectionFailed(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(325, LogLevel.Warning, "Accepting connections on {EndPoint} failed: {Error}; accepting pauses for {Delay} ms (the listener stays open).", EventName = "AcceptPaused")]
    public static partial void AcceptPaused(ILogger logger, string? endPoint, string error, int delay);
}

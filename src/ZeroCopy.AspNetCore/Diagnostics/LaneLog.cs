using Microsoft.Extensions.Logging;

namespace ZeroCopy.AspNetCore.Diagnostics;

/// <summary>Log events of the short-circuit lane (category <c>ZeroCopy.AspNetCore.ShortCircuit</c>, ids 400-409).</summary>
internal static partial class LaneLog
{
    public const string Category = "ZeroCopy.AspNetCore.ShortCircuit";

    [LoggerMessage(400, LogLevel.Debug, "Connection id \"{ConnectionId}\": the short-circuit lane hands the rest of the connection to Kestrel ({Reason}).", EventName = "LanePassThrough")]
    public static partial void PassThrough(ILogger logger, string? connectionId, string reason);

    [LoggerMessage(401, LogLevel.Error, "The short-circuit lane failed on connection id \"{ConnectionId}\"; Kestrel gets the rest of the connection.", EventName = "LaneFailed")]
    public static partial void Failed(ILogger logger, string? connectionId, Exception ex);

    [LoggerMessage(402, LogLevel.Debug, "Connection id \"{ConnectionId}\" was idle for the keep-alive timeout after short-circuit answers: asking Kestrel to close it.", EventName = "LaneKeepAliveTimeout")]
    public static partial void KeepAliveTimeout(ILogger logger, string? connectionId);

    [LoggerMessage(403, LogLevel.Debug, "Connection id \"{ConnectionId}\": Kestrel's keep-alive timer stopped a connection busy with short-circuit answers; it stays open.", EventName = "LaneKeepAliveStopIgnored")]
    public static partial void KeepAliveStopIgnored(ILogger logger, string? connectionId);
}

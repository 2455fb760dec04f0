using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

namespace ZeroCopy.AspNetCore.Diagnostics;

/// <summary>
/// Log events of the static file middleware. Ids 1-16 carry the same ids, names, levels and
/// messages as stock StaticFileMiddleware so existing log filters keep working; ids from 100 are
/// this library's own.
/// </summary>
internal static partial class StaticFileLog
{
    [LoggerMessage(1, LogLevel.Debug, "{Method} requests are not supported", EventName = "MethodNotSupported")]
    public static partial void RequestMethodNotSupported(ILogger logger, string method);

    [LoggerMessage(2, LogLevel.Information, "Sending file. Request path: '{VirtualPath}'. Physical path: '{PhysicalPath}'", EventName = "FileServed")]
    private static partial void FileServedCore(ILogger logger, string virtualPath, string physicalPath);

    public static void FileServed(ILogger logger, string virtualPath, string? physicalPath)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            FileServedCore(logger, virtualPath, string.IsNullOrEmpty(physicalPath) ? "N/A" : physicalPath);
        }
    }

    [LoggerMessage(3, LogLevel.Debug, "The request path {Path} does not match the path filter", EventName = "PathMismatch")]
    public static partial void PathMismatch(ILogger logger, string? path);

    [LoggerMessage(4, LogLevel.Debug, "The request path {Path} does not match a supported file type", EventName = "FileTypeNotSupported")]
    public static partial void FileTypeNotSupported(ILogger logger, string? path);

    [LoggerMessage(5, LogLevel.Debug, "The request path {Path} does not match an existing file", EventName = "FileNotFound")]
    public static partial void FileNotFound(ILogger logger, string? path);

    [LoggerMessage(6, LogLevel.Information, "The file {Path} was not modified", EventName = "FileNotModified")]
    public static partial void FileNotModified(ILogger logger, string? path);

    [LoggerMessage(7, LogLevel.Information, "Precondition for {Path} failed", EventName = "PreconditionFailed")]
    public static partial void PreconditionFailed(ILogger logger, string? path);

    [LoggerMessage(8, LogLevel.Debug, "Handled. Status code: {StatusCode} File: {Path}", EventName = "Handled")]
    public static partial void Handled(ILogger logger, int statusCode, string? path);

    [LoggerMessage(9, LogLevel.Warning, "Range not satisfiable for {Path}", EventName = "RangeNotSatisfiable")]
    public static partial void RangeNotSatisfiable(ILogger logger, string? path);

    [LoggerMessage(10, LogLevel.Information, "Sending {Range} of file {Path}", EventName = "SendingFileRange")]
    public static partial void SendingFileRange(ILogger logger, StringValues range, string? path);

    [LoggerMessage(11, LogLevel.Debug, "Copying {Range} of file {Path} to the response body", EventName = "CopyingFileRange")]
    public static partial void CopyingFileRange(ILogger logger, StringValues range, string? path);

    [LoggerMessage(14, LogLevel.Debug, "The file transmission was cancelled", EventName = "WriteCancelled")]
    public static partial void WriteCancelled(ILogger logger, Exception ex);

    [LoggerMessage(15, LogLevel.Debug, "Static files was skipped as the request already matched an endpoint.", EventName = "EndpointMatched")]
    public static partial void EndpointMatched(ILogger logger);

    [LoggerMessage(16, LogLevel.Warning, "The WebRootPath was not found: {WebRootPath}. Static files may be unavailable.", EventName = "WebRootPathNotFound")]
    public static partial void WebRootPathNotFound(ILogger logger, string webRootPath);

    [LoggerMessage(100, LogLevel.Debug, "The request path {Path} maps to a file outside the root (through a symlink); not served", EventName = "OutsideRoot")]
    public static partial void OutsideRoot(ILogger logger, string? path);

    [LoggerMessage(101, LogLevel.Debug, "The request path {Path} is not a regular file (FIFO, socket, device or directory); not served", EventName = "NotRegularFile")]
    public static partial void NotRegularFile(ILogger logger, string? path);

    [LoggerMessage(102, LogLevel.Warning, "The file for request path {Path} cannot be read by this process (permission denied); not served", EventName = "AccessDenied")]
    public static partial void AccessDenied(ILogger logger, string? path);

    [LoggerMessage(103, LogLevel.Warning, "The file {Path} became shorter while it was being sent ({Sent} of {Expected} body bytes); the connection was aborted", EventName = "FileShrank")]
    public static partial void FileShrank(ILogger logger, string? path, long sent, long expected);

    [LoggerMessage(105, LogLevel.Information, "Serving {Root} at {RequestPath}: mode {Mode}, body strategies {Strategies}", EventName = "Serving")]
    private static partial void ServingCore(ILogger logger, string root, string requestPath, ZeroCopyMode mode, string strategies);

    /// <param name="logger">The library's own category.</param>
    /// <param name="root">The directory (or the provider's type).</param>
    /// <param name="requestPath">The prefix; empty (the site root) is written as <c>/</c>, the URL it serves.</param>
    /// <param name="mode">The configured mode.</param>
    /// <param name="strategies">What bodies will use.</param>
    public static void Serving(ILogger logger, string root, string? requestPath, ZeroCopyMode mode, string strategies)
        => ServingCore(logger, root, string.IsNullOrEmpty(requestPath) ? "/" : requestPath, mode, strategies);

    [LoggerMessage(106, LogLevel.Warning, "The file {Path} changed while it was being sent ({Sent} of {Expected} body bytes sent); the connection was aborted rather than mixing two versions", EventName = "FileChanged")]
    public static partial void FileChanged(ILogger logger, string? path, long sent, long expected);

    [LoggerMessage(104, LogLevel.Debug, "Response for {Path} streamed instead of {Mode}: {Reason}", EventName = "ZeroCopyFallback")]
    public static partial void Fallback(ILogger logger, string? path, ZeroCopyMode mode, string reason);

    [LoggerMessage(107, LogLevel.Debug, "Response for {Path} written from the hot-file cache's memory instead of {Mode}: {Reason}", EventName = "HotCacheCopied")]
    public static partial void HotCacheCopied(ILogger logger, string? path, ZeroCopyMode mode, string reason);
}

namespace ZeroCopy.AspNetCore.Diagnostics;

/// <summary>How the body of one response was produced (the <c>zerocopy.strategy</c> metric tag).</summary>
internal enum ResponseStrategy
{
    Stream,
    SendFile,
    Splice,
    HotCache,
    /// <summary>Answered by the short-circuit lane in the transport, before Kestrel parsed the request.</summary>
    ShortCircuit,
}

/// <summary>
/// Why a response that asked for a zero-copy mode was streamed instead (the
/// <c>zerocopy.fallback.reason</c> metric tag). Names are stable: dashboards key on them.
/// </summary>
internal enum FallbackReason
{
    /// <summary>The configured mode is Stream.</summary>
    ModeStream,
    /// <summary>The connection was not accepted by the zero-copy transport (TestServer, IIS, another transport).</summary>
    NoTransport,
    /// <summary>The process is not running on Linux.</summary>
    NotLinux,
    /// <summary>The connection is TLS.</summary>
    Tls,
    /// <summary>The request is HTTP/2.</summary>
    Http2,
    /// <summary>The request is HTTP/3.</summary>
    Http3,
    /// <summary>A connection middleware replaced the transport pipe.</summary>
    ConnectionMiddleware,
    /// <summary>The response body feature or stream was replaced (compression, caching, a wrapped Response.Body).</summary>
    WrappedBody,
    /// <summary>The file has no physical path (embedded or custom file provider).</summary>
    NotPhysical,
    /// <summary>The body is smaller than MinZeroCopyBytes.</summary>
    BelowThreshold,
    /// <summary>The kernel refused the zero-copy call for this file before any byte was sent.</summary>
    KernelError,
    /// <summary>The response has no Content-Length (chunked).</summary>
    NoContentLength,
}

internal static class DiagnosticNames
{
    public static string Name(this ResponseStrategy strategy) => strategy switch
    {
        ResponseStrategy.Stream => "stream",
        ResponseStrategy.SendFile => "sendfile",
        ResponseStrategy.Splice => "splice",
        ResponseStrategy.HotCache => "hot-cache",
        ResponseStrategy.ShortCircuit => "short-circuit",
        _ => "unknown",
    };

    public static string Name(this FallbackReason reason) => reason switch
    {
        FallbackReason.ModeStream => "mode-stream",
        FallbackReason.NoTransport => "no-transport",
        FallbackReason.NotLinux => "not-linux",
        FallbackReason.Tls => "tls",
        FallbackReason.Http2 => "http2",
        FallbackReason.Http3 => "http3",
        FallbackReason.ConnectionMiddleware => "connection-middleware",
        FallbackReason.WrappedBody => "wrapped-body",
        FallbackReason.NotPhysical => "not-physical",
        FallbackReason.BelowThreshold => "below-threshold",
        FallbackReason.KernelError => "kernel-error",
        FallbackReason.NoContentLength => "no-content-length",
        _ => "unknown",
    };
}

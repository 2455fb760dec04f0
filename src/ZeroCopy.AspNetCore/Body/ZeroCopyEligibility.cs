using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Transport;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Body;

/// <summary>
/// Whether a response body may be sent as a file region: HTTP/1.x on a connection of our transport
/// whose output is still our writer, the server's own body feature, a Content-Length, a body of at
/// least MinZeroCopyBytes. Every "no" has a named reason.
/// </summary>
internal static class ZeroCopyEligibility
{
    /// <returns>Null when eligible (then <paramref name="connection"/> is set), else the reason.</returns>
    public static FallbackReason? Check(HttpContext context, ZeroCopyMode mode, long count, long minZeroCopyBytes, out IZeroCopyConnectionFeature? connection)
    {
        connection = null;
        if (mode == ZeroCopyMode.Stream)
        {
            return FallbackReason.ModeStream;
        }

        if (!LinuxOnly.IsSupported)
        {
            return FallbackReason.NotLinux;
        }

        var features = context.Features;
        var feature = features.Get<IZeroCopyConnectionFeature>();
        if (feature is null)
        {
            return FallbackReason.NoTransport;
        }

        var protocol = context.Request.Protocol;
        if (HttpProtocol.IsHttp2(protocol))
        {
            return FallbackReason.Http2;
        }

        if (HttpProtocol.IsHttp3(protocol))
        {
            return FallbackReason.Http3;
        }

        if (features.Get<ITlsConnectionFeature>() is not null)
        {
            return FallbackReason.Tls;
        }

        if (!ReferenceEquals(features.Get<IConnectionTransportFeature>()?.Transport.Output, feature.Output))
        {
            return FallbackReason.ConnectionMiddleware;
        }

        if (!IsServerBodyFeature(features))
        {
            return FallbackReason.WrappedBody;
        }

        if (context.Response.ContentLength is null)
        {
            return FallbackReason.NoContentLength;
        }

        if (count < minZeroCopyBytes || count == 0)
        {
            return FallbackReason.BelowThreshold;
        }

        connection = feature;
        return null;
    }

    /// <summary>
    /// Whether <paramref name="body"/> is Kestrel's own response body feature, directly or under ours (Kestrel implements it
    /// on its per-request protocol object), which this library may write to directly. Anything else
    /// (IIS, HTTP.sys, TestServer, a wrapping middleware) gets its own SendFileAsync called.
    /// </summary>
    public static bool IsKestrelBody(IHttpResponseBodyFeature? body)
    {
        if (body is ZeroCopyResponseBodyFeature ours)
        {
            body = ours.Inner;
        }

        if (body is null)
        {
            return false;
        }

        var type = body.GetType();
        if (ReferenceEquals(type, s_lastKestrelBodyType))
        {
            return true;
        }

        if (type.Assembly != s_kestrelAssembly)
        {
            return false;
        }

        // One type per protocol (HTTP/1.1, /2, /3): remembering the last one skips the assembly check.
        s_lastKestrelBodyType = type;
        return true;
    }

    private static readonly System.Reflection.Assembly s_kestrelAssembly = typeof(Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions).Assembly;
    private static Type? s_lastKestrelBodyType;

    /// <summary>
    /// Kestrel implements the request, response and response body features on one object; a
    /// middleware that wraps the body (compression, output caching, a replaced Response.Body)
    /// installs a different body feature. Our own send-file wrapper is looked through.
    /// </summary>
    private static bool IsServerBodyFeature(IFeatureCollection features)
    {
        var body = features.Get<IHttpResponseBodyFeature>();
        if (body is ZeroCopyResponseBodyFeature ours)
        {
            body = ours.Inner;
        }

        return body is not null && ReferenceEquals(body, features.Get<IHttpResponseFeature>());
    }
}

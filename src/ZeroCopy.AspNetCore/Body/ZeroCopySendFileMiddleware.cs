using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Configuration;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Transport;

namespace ZeroCopy.AspNetCore.Body;

/// <summary>
/// Installs <see cref="ZeroCopyResponseBodyFeature"/> for requests on zero-copy transport
/// connections (others are left alone and allocate nothing) and restores the original afterwards.
/// </summary>
internal sealed class ZeroCopySendFileMiddleware
{
    private readonly RequestDelegate _next;
    private readonly ZeroCopySettings _settings;
    private readonly BodySender _sender;

    public ZeroCopySendFileMiddleware(RequestDelegate next, ZeroCopySettings settings, ZeroCopyMetrics metrics, ILoggerFactory loggerFactory)
    {
        _next = next;
        _settings = settings;
        _sender = new BodySender(metrics, loggerFactory.CreateLogger<ZeroCopySendFileMiddleware>());
    }

    public Task Invoke(HttpContext context)
    {
        var features = context.Features;
        var original = features.Get<IHttpResponseBodyFeature>();
        if (original is null or ZeroCopyResponseBodyFeature || features.Get<IZeroCopyConnectionFeature>() is null)
        {
            return _next(context);
        }

        features.Set<IHttpResponseBodyFeature>(new ZeroCopyResponseBodyFeature(original, context, _settings, _sender));
        return InvokeWrappedAsync(context, original);
    }

    private async Task InvokeWrappedAsync(HttpContext context, IHttpResponseBodyFeature original)
    {
        try
        {
            await _next(context);
        }
        finally
        {
            context.Features.Set(original);
        }
    }
}

using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using ZeroCopy.AspNetCore.Body;
using ZeroCopy.AspNetCore.Configuration;
using ZeroCopy.AspNetCore.Diagnostics;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>
/// Serves files with the observable behaviour of stock <c>StaticFileMiddleware</c>, plus the
/// differences listed in the README.
/// </summary>
/// <remarks>
/// <see cref="Invoke"/> is a chain of cheap checks (endpoint, method, path, content type); each miss
/// logs the stock debug event and calls the next middleware without allocating.
/// </remarks>
internal sealed class ZeroCopyStaticFileMiddleware
{
    private readonly RequestDelegate _next;
    private readonly StaticFileOptions _code;
    private readonly bool _codeWins;
    private readonly ZeroCopySettings _settings;
    private readonly IWebHostEnvironment _environment;
    private readonly ILogger _logger;
    private readonly ZeroCopyMetrics _metrics;
    private volatile StaticFileSite _site;

    public ZeroCopyStaticFileMiddleware(
        RequestDelegate next,
        StaticFileOptions code,
        bool codeWins,
        ZeroCopySettings settings,
        IWebHostEnvironment environment,
        ILoggerFactory loggerFactory,
        ZeroCopyMetrics metrics)
    {
        _next = next;
        _code = code;
        _codeWins = codeWins;
        _settings = settings;
        _environment = environment;
        _logger = loggerFactory.CreateLogger<ZeroCopyStaticFileMiddleware>();
        _metrics = metrics;
        _site = StaticFileSiteBuilder.Build(code, codeWins, settings, environment);

        if (_site.FileProvider is NullFileProvider && ReferenceEquals(_site.FileProvider, environment.WebRootFileProvider))
        {
            StaticFileLog.WebRootPathNotFound(_logger, Path.GetFullPath(Path.Combine(environment.ContentRootPath, environment.WebRootPath ?? "wwwroot")));
        }

        LogServing(_site);
        settings.Changed += Rebuild;
    }

    private void LogServing(StaticFileSite site)
    {
        var root = site.FileProvider is PhysicalFileProvider physical ? physical.Root : site.FileProvider.GetType().Name;
        var strategies = site.Mode switch
        {
            ZeroCopyMode.Stream => "stream",
            _ when !OperatingSystem.IsLinux() => "stream (zero-copy needs Linux)",
            _ when !_settings.IsRegistered => "stream (AddZeroCopyStaticFiles() was not called)",
            ZeroCopyMode.Splice => $"splice for bodies of {site.MinZeroCopyBytes} bytes or more on the zero-copy transport, stream otherwise",
            _ => $"sendfile for bodies of {site.MinZeroCopyBytes} bytes or more on the zero-copy transport, stream otherwise",
        };
        StaticFileLog.Serving(_logger, root, site.RequestPath.Value ?? string.Empty, site.Mode, strategies);
    }

    internal StaticFileSite Site => _site;

    public Task Invoke(HttpContext context)
    {
        var site = _site;
        PathString subPath;
        if (context.GetEndpoint()?.RequestDelegate is not null)
        {
            StaticFileLog.EndpointMatched(_logger);
        }
        else if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            StaticFileLog.RequestMethodNotSupported(_logger, context.Request.Method);
        }
        else if (!context.Request.Path.StartsWithSegments(site.RequestPath, out subPath))
        {
            StaticFileLog.PathMismatch(_logger, subPath.Value);
        }
        else if (!LookupContentType(site, subPath.Value!, out var contentType))
        {
            StaticFileLog.FileTypeNotSupported(_logger, subPath.Value);
        }
        else
        {
            return TryServeAsync(context, site, subPath.Value!, contentType);
        }

        return _next(context);
    }

    private static bool LookupContentType(StaticFileSite site, string subPath, out string? contentType)
    {
        if (site.ContentTypes.TryGetContentType(subPath, out contentType))
        {
            return true;
        }

        if (site.ServeUnknownFileTypes)
        {
            contentType = site.DefaultContentType;
            return true;
        }

        return false;
    }

    private Task TryServeAsync(HttpContext context, StaticFileSite site, string subPath, string? contentType)
    {
        var info = site.FileProvider.GetFileInfo(subPath);
        if (!info.Exists)
        {
            StaticFileLog.FileNotFound(_logger, subPath);
            return _next(context);
        }

        var file = FileResolver.Resolve(site, info, out var outcome);
        if (file is null)
        {
            LogRefusal(outcome, subPath);
            return _next(context);
        }

        return ServeAsync(context, site, file, contentType, subPath);
    }

    private void LogRefusal(OpenOutcome outcome, string subPath)
    {
        switch (outcome)
        {
            case OpenOutcome.OutsideRoot:
                StaticFileLog.OutsideRoot(_logger, subPath);
                break;
            case OpenOutcome.NotRegularFile:
                StaticFileLog.NotRegularFile(_logger, subPath);
                break;
            case OpenOutcome.AccessDenied:
                StaticFileLog.AccessDenied(_logger, subPath);
                break;
            default:
                StaticFileLog.FileNotFound(_logger, subPath);
                break;
        }
    }

    private async Task ServeAsync(HttpContext context, StaticFileSite site, ResolvedFile file, string? contentType, string subPath)
    {
        using var _ = file;
        var request = context.Request;
        var responder = new FileResponder(context, site, file, contentType, subPath, _logger);
        switch (Preconditions.Evaluate(request.Headers, file.ETag, file.LastModified, DateTimeOffset.UtcNow))
        {
            case PreconditionResult.NotModified:
                StaticFileLog.FileNotModified(_logger, subPath);
                await responder.SendStatusAsync(StatusCodes.Status304NotModified);
                return;
            case PreconditionResult.PreconditionFailed:
                StaticFileLog.PreconditionFailed(_logger, subPath);
                await responder.SendStatusAsync(StatusCodes.Status412PreconditionFailed);
                return;
        }

        if (HttpMethods.IsHead(request.Method))
        {
            await responder.SendStatusAsync(StatusCodes.Status200OK);
            return;
        }

        var range = RangeParser.Select(request.Headers, file.Length, file.LastModified, file.ETag);
        try
        {
            switch (range.Kind)
            {
                case RangeKind.Unsatisfiable:
                    context.Response.Headers.ContentRange = "bytes */" + file.Length.ToString(CultureInfo.InvariantCulture);
                    await responder.ApplyHeadersAsync(StatusCodes.Status416RangeNotSatisfiable);
                    StaticFileLog.RangeNotSatisfiable(_logger, subPath);
                    return;
                case RangeKind.Single:
                    var last = range.Start + range.Length - 1;
                    context.Response.Headers.ContentRange = string.Create(CultureInfo.InvariantCulture, $"bytes {range.Start}-{last}/{file.Length}");
                    context.Response.ContentLength = range.Length;
                    SetCompressionMode(context, site);
                    await responder.ApplyHeadersAsync(StatusCodes.Status206PartialContent);
                    StaticFileLog.SendingFileRange(_logger, context.Response.Headers.ContentRange, file.PhysicalPath ?? subPath);
                    await SendBodyAsync(context, site, file, range.Start, range.Length, subPath);
                    return;
                default:
                    SetCompressionMode(context, site);
                    await responder.ApplyHeadersAsync(StatusCodes.Status200OK);
                    await SendBodyAsync(context, site, file, 0, file.Length, subPath);
                    StaticFileLog.FileServed(_logger, subPath, file.PhysicalPath);
                    return;
            }
        }
        catch (FileNotFoundException)
        {
            // The file went away between the lookup and the open (only where it is opened late):
            // as stock, forget the headers and let the rest of the pipeline answer.
            context.Response.Clear();
        }

        await _next(context);
    }

    private async Task SendBodyAsync(HttpContext context, StaticFileSite site, ResolvedFile file, long offset, long count, string subPath)
    {
        if (count > 0 && site.Mode != ZeroCopyMode.Stream)
        {
            FallbackReason? reason;
            if (file.Handle is { } handle)
            {
                reason = ZeroCopyEligibility.Check(context, site.Mode, count, site.MinZeroCopyBytes, out var connection);
                if (reason is null)
                {
                    try
                    {
                        if (await RegionBodyWriter.TrySendAsync(context, connection!, handle, offset, count, site.Mode, file.PhysicalPath, ResolvedFile.DetachHandle, file, context.RequestAborted))
                        {
                            // The transport sends the bytes and counts the response.
                            return;
                        }
                    }
                    catch (OperationCanceledException ex)
                    {
                        StaticFileLog.WriteCancelled(_logger, ex);
                        return;
                    }

                    // Something between us and the transport still holds unflushed bytes.
                    reason = FallbackReason.WrappedBody;
                }
            }
            else
            {
                reason = OperatingSystem.IsLinux() ? FallbackReason.NotPhysical : FallbackReason.NotLinux;
            }

            _metrics.Fallback(reason.Value);
            StaticFileLog.Fallback(_logger, subPath, site.Mode, reason.Value.Name());
        }

        var sent = await StreamBodySender.SendAsync(context, file, offset, count, _logger, subPath);
        _metrics.ResponseSent(ResponseStrategy.Stream, sent);
    }

    private static void SetCompressionMode(HttpContext context, StaticFileSite site)
    {
        if (context.Features.Get<IHttpsCompressionFeature>() is { } feature)
        {
            feature.Mode = site.HttpsCompression;
        }
    }

    private void Rebuild()
    {
        try
        {
            _site = StaticFileSiteBuilder.Build(_code, _codeWins, _settings, _environment);
            LogServing(_site);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            ZeroCopyLog.ConfigurationRejected(_logger, ex.Message);
        }
    }
}

using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Configuration;
using ZeroCopy.AspNetCore.Diagnostics;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>
/// Serves files with the observable behaviour of stock <c>StaticFileMiddleware</c>, plus the
/// differences listed in the README.
/// </summary>
/// <remarks>
/// <see cref="Invoke"/> is a chain of cheap checks (endpoint, method, path, then the hot-file cache,
/// then content type); each miss logs the stock debug event and calls the next middleware without
/// allocating. Logs use stock's category so existing filters keep applying.
/// </remarks>
internal sealed partial class ZeroCopyStaticFileMiddleware
{
    /// <summary>Stock StaticFileMiddleware's logger category.</summary>
    internal const string LogCategory = "Microsoft.AspNetCore.StaticFiles.StaticFileMiddleware";

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
        _logger = loggerFactory.CreateLogger(LogCategory);
        _metrics = metrics;
        _site = StaticFileSiteBuilder.Build(code, codeWins, settings, environment, metrics);
        settings.Track(this, static state => DisposeCache(((ZeroCopyStaticFileMiddleware)state)._site));

        if (_site.FileProvider is NullFileProvider && ReferenceEquals(_site.FileProvider, environment.WebRootFileProvider))
        {
            StaticFileLog.WebRootPathNotFound(_logger, Path.GetFullPath(Path.Combine(environment.ContentRootPath, environment.WebRootPath ?? "wwwroot")));
        }

        LogServing(_site);
        settings.Changed += Rebuild;
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
        else if (site.Cache is { } cache && OperatingSystem.IsLinux() && cache.TryGet(subPath.Value!) is { } entry)
        {
            // A cache hit: no content-type lookup, no open, no stat (the entry was admitted with them).
            return ServeAsync(context, site, new ResolvedFile(entry), subPath.Value!);
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

        var file = FileResolver.Resolve(site, info, contentType, out var outcome);
        if (file is null)
        {
            LogRefusal(outcome, subPath);
            return _next(context);
        }

        if (site.Cache is { } cache && OperatingSystem.IsLinux() && file.Handle is { } handle
            && cache.Offer(subPath, file.Version, handle) is { } admitted)
        {
            file.Dispose();
            file = new ResolvedFile(admitted);
        }

        return ServeAsync(context, site, file, subPath);
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

    private async Task ServeAsync(HttpContext context, StaticFileSite site, ResolvedFile file, string subPath)
    {
        using var _ = file;
        var version = file.Version;
        var request = context.Request;
        var responder = new FileResponder(context, site, version, subPath, _logger);
        if (HasConditionals(request.Headers))
        {
            switch (Preconditions.Evaluate(request.Headers, version.ETag, version.LastModified, DateTimeOffset.UtcNow))
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
        }

        if (HttpMethods.IsHead(request.Method))
        {
            await responder.SendStatusAsync(StatusCodes.Status200OK);
            return;
        }

        var range = request.Headers.Range.Count == 0
            ? RangeSelection.Full
            : RangeParser.Select(request.Headers, version.Length, version.LastModified, version.ETag);
        try
        {
            switch (range.Kind)
            {
                case RangeKind.Unsatisfiable:
                    context.Response.Headers.ContentRange = "bytes */" + version.Length.ToString(CultureInfo.InvariantCulture);
                    await responder.ApplyHeadersAsync(StatusCodes.Status416RangeNotSatisfiable);
                    StaticFileLog.RangeNotSatisfiable(_logger, subPath);
                    return;
                case RangeKind.Single:
                    var last = range.Start + range.Length - 1;
                    context.Response.Headers.ContentRange = string.Create(CultureInfo.InvariantCulture, $"bytes {range.Start}-{last}/{version.Length}");
                    context.Response.ContentLength = range.Length;
                    SetCompressionMode(context, site);
                    await responder.ApplyHeadersAsync(StatusCodes.Status206PartialContent);
                    StaticFileLog.SendingFileRange(_logger, context.Response.Headers.ContentRange, version.PhysicalPath ?? subPath);
                    await SendBodyAsync(context, site, file, range.Start, range.Length, subPath);
                    return;
                default:
                    SetCompressionMode(context, site);
                    await responder.ApplyHeadersAsync(StatusCodes.Status200OK);
                    await SendBodyAsync(context, site, file, 0, version.Length, subPath);
                    StaticFileLog.FileServed(_logger, subPath, version.PhysicalPath);
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

    /// <summary>Most requests carry no conditional header: skip parsing entirely for them.</summary>
    private static bool HasConditionals(IHeaderDictionary headers)
        => headers.IfMatch.Count != 0 || headers.IfNoneMatch.Count != 0
            || headers.IfModifiedSince.Count != 0 || headers.IfUnmodifiedSince.Count != 0;

    private static void SetCompressionMode(HttpContext context, StaticFileSite site)
    {
        if (context.Features.Get<IHttpsCompressionFeature>() is { } feature)
        {
            feature.Mode = site.HttpsCompression;
        }
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
        if (site.Cache is not null)
        {
            strategies += "; hot-file cache on";
        }

        StaticFileLog.Serving(_logger, root, site.RequestPath.Value ?? string.Empty, site.Mode, strategies);
    }

    private static void DisposeCache(StaticFileSite site)
    {
        if (OperatingSystem.IsLinux())
        {
            site.Cache?.Dispose();
        }
    }

    private void Rebuild()
    {
        try
        {
            var previous = _site;
            _site = StaticFileSiteBuilder.Build(_code, _codeWins, _settings, _environment, _metrics);
            // Entries in use stay valid: responses hold their own references.
            DisposeCache(previous);
            LogServing(_site);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            ZeroCopyLog.ConfigurationRejected(_logger, ex.Message);
        }
    }
}

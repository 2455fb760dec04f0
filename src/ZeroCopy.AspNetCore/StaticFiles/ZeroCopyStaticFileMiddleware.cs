using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Configuration;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;
using ZeroCopy.AspNetCore.Files;

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

    internal const string OwnLogCategory = "ZeroCopy.AspNetCore.StaticFiles";

    private readonly RequestDelegate _next;
    private readonly StaticFileOptions _code;
    private readonly bool _codeWins;
    private readonly ZeroCopySettings _settings;
    private readonly FileRoots _roots;
    private readonly IWebHostEnvironment _environment;
    private readonly ILogger _logger;

    // Events of our own (not stock's) log under our category, so an app that quiets
    // Microsoft.AspNetCore (as the templates do) still sees what is served and how.
    private readonly ILogger _ownLogger;
    private readonly ZeroCopyMetrics _metrics;
    private volatile StaticFileSite _site;

    public ZeroCopyStaticFileMiddleware(
        RequestDelegate next,
        StaticFileOptions code,
        bool codeWins,
        ZeroCopySettings settings,
        FileRoots roots,
        IWebHostEnvironment environment,
        ILoggerFactory loggerFactory,
        ZeroCopyMetrics metrics)
    {
        _next = next;
        _code = code;
        _codeWins = codeWins;
        _settings = settings;
        _roots = roots;
        _environment = environment;
        _logger = loggerFactory.CreateLogger(LogCategory);
        _ownLogger = loggerFactory.CreateLogger(OwnLogCategory);
        _metrics = metrics;
        _site = StaticFileSiteBuilder.Build(code, codeWins, settings, roots, environment, metrics);
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
        else if (site.Cache is { } cache && LinuxOnly.IsSupported
            && cache.TryGet(new Caching.CacheKey(subPath.Value!, 0), countMiss: false) is { } entry)
        {
            // A cache hit: no content-type lookup, no open, no stat (the entry was admitted with
            // them). A file without precompressed siblings is the answer whatever the client
            // accepts, unless it refuses identity; the entry knows its siblings.
            var file = new ResolvedFile(entry);
            return entry.Siblings == 0 && IdentityAccepted(context.Request.Headers.AcceptEncoding)
                ? RespondAsync(context, site, file, subPath.Value!, vary: false)
                : ServeAsync(context, site, subPath.Value!, file);
        }
        else
        {
            // A cache miss is counted where the file is resolved (after the content-type check).
            return ServeAsync(context, site, subPath.Value!, identityHit: null);
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
            _ when !LinuxOnly.IsSupported => "stream (zero-copy needs Linux)",
            _ when !_settings.IsRegistered => "stream (AddZeroCopyStaticFiles() was not called)",
            ZeroCopyMode.Splice => $"splice for bodies of {site.MinZeroCopyBytes} bytes or more on the zero-copy transport, stream otherwise",
            _ => $"sendfile for bodies of {site.MinZeroCopyBytes} bytes or more on the zero-copy transport, stream otherwise",
        };
        if (site.Cache is not null)
        {
            strategies += "; hot-file cache on";
        }

        StaticFileLog.Serving(_ownLogger, root, site.RequestPath.Value ?? string.Empty, site.Mode, strategies);
    }

    private static void DisposeCache(StaticFileSite site)
    {
        if (LinuxOnly.IsSupported)
        {
            site.Cache?.Dispose();
        }
    }

    private void Rebuild()
    {
        try
        {
            var previous = _site;
            _site = StaticFileSiteBuilder.Build(_code, _codeWins, _settings, _roots, _environment, _metrics);
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

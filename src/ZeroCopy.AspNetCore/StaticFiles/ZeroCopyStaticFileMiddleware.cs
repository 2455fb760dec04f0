using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Body;
using ZeroCopy.AspNetCore.Caching;
using ZeroCopy.AspNetCore.Configuration;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Files;
using ZeroCopy.AspNetCore.Native;

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
internal sealed class ZeroCopyStaticFileMiddleware
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
    private readonly FileLocator _locator;
    private readonly FileResponder _responder;
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
        _locator = new FileLocator(_logger);
        _responder = new FileResponder(_logger, new BodySender(metrics, _logger));
        _site = StaticFileSiteBuilder.Build(code, codeWins, settings, roots, environment, metrics);
        settings.Track(this, static state => DisposeCache(((ZeroCopyStaticFileMiddleware)state)._site));

        if (_site.FileProvider is NullFileProvider && ReferenceEquals(_site.FileProvider, environment.WebRootFileProvider))
        {
            StaticFileLog.WebRootPathNotFound(_logger, Path.GetFullPath(Path.Combine(environment.ContentRootPath, environment.WebRootPath ?? "wwwroot")));
        }

        LogServing(_site);
        settings.Changed += Rebuild;
    }

    /// <summary>The settings in effect now (rebuilt on a configuration reload).</summary>
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
        else if (FileLocator.HotEntry(site, subPath.Value!) is { } entry)
        {
            // A cache hit: no content-type lookup, no open, no stat (the entry was admitted with
            // them). A file without precompressed siblings is the answer whatever the client
            // accepts, unless it refuses identity; the entry knows its siblings.
            var request = new FileRequest(context, site, subPath.Value!);
            // Written once: every hit writing it would contend on the entry's cache line.
            if (site.ShortCircuit && !entry.ServedByPipeline && !context.Request.PathBase.HasValue)
            {
                entry.ServedByPipeline = true;
            }

            var file = new ResolvedFile(entry);
            return file.KnownSiblings == 0 && FileLocator.IdentityAccepted(context.Request.Headers.AcceptEncoding)
                ? RespondAsync(request, file, request.SubPath, vary: false)
                : ServeAsync(request, file);
        }
        else
        {
            // A cache miss is counted where the file is resolved (after the content-type check).
            return ServeAsync(new FileRequest(context, site, subPath.Value!), identityHit: null);
        }

        return _next(context);
    }

    /// <summary>
    /// Which file answers: a precompressed sibling the client accepts, the file itself, a
    /// directory's default document, or the SPA fallback, in that order; else the next middleware.
    /// <paramref name="identityHit"/> is the file itself from the cache (owned by this call) when
    /// <see cref="Invoke"/> already found it.
    /// </summary>
    private async Task ServeAsync(FileRequest request, ResolvedFile? identityHit)
    {
        var (site, subPath) = (request.Site, request.SubPath);
        // A cached file's content type was looked up when it was admitted.
        string? contentType = identityHit?.Version.ContentType;
        var known = identityHit is not null || FileLocator.LookupContentType(site, subPath, out contentType);
        if (known)
        {
            var (file, vary, notAcceptable) = _locator.SelectRepresentation(request, contentType, identityHit);
            if (file is not null)
            {
                await RespondAsync(request, file, subPath, vary);
                return;
            }

            Debug.Assert(identityHit is null || notAcceptable, "The file itself exists: only identity;q=0 leaves no representation.");
            if (notAcceptable)
            {
                // identity;q=0 (or *;q=0) and no sibling the client accepts: RFC 9110 §12.5.3.
                request.Context.Response.StatusCode = StatusCodes.Status406NotAcceptable;
                request.Context.Response.Headers.Vary = "Accept-Encoding";
                return;
            }
        }
        else if (site.DefaultDocuments is null && site.FallbackFile is null)
        {
            StaticFileLog.FileTypeNotSupported(_logger, subPath);
            await _next(request.Context);
            return;
        }

        if (site.DefaultDocuments is { } documents && _locator.FindDefaultDocument(site, subPath, documents, out var document) is { } index)
        {
            if (!subPath.EndsWith('/') && site.RedirectToAppendTrailingSlash)
            {
                // UseDefaultFiles' behaviour: /docs is redirected to /docs/ before it is served.
                index.Dispose();
                var http = request.Context.Request;
                request.Context.Response.StatusCode = StatusCodes.Status301MovedPermanently;
                request.Context.Response.Headers.Location = UriHelper.BuildAbsolute(http.Scheme, http.Host, http.PathBase, http.Path + "/", http.QueryString);
                return;
            }

            await RespondAsync(request, index, document, vary: false);
            return;
        }

        if (site.FallbackFile is { } fallback && FileLocator.IsRoute(subPath)
            && FileLocator.LookupContentType(site, fallback, out var fallbackType)
            && _locator.TryResolve(site, fallback, fallbackType, variant: 0, out var fallbackFile))
        {
            await RespondAsync(request, fallbackFile!, fallback, vary: false);
            return;
        }

        if (!known)
        {
            StaticFileLog.FileTypeNotSupported(_logger, subPath);
        }

        await _next(request.Context);
    }

    private async Task RespondAsync(FileRequest request, ResolvedFile file, string path, bool vary)
    {
        if (!await _responder.RespondAsync(request, file, path, vary))
        {
            await _next(request.Context);
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

    /// <summary>
    /// A valid configuration change: a new site from the new settings. When only cache limits
    /// changed, the new cache takes over the entries that fit them and nothing about serving is
    /// logged again.
    /// </summary>
    private void Rebuild(SettingsChange change)
    {
        try
        {
            var previous = _site;
            var next = StaticFileSiteBuilder.Build(_code, _codeWins, _settings, _roots, _environment, _metrics);
            if (change == SettingsChange.CacheLimits && LinuxOnly.IsSupported && next.Cache is { } cache && previous.Cache is { } old)
            {
                cache.Adopt(old);
            }

            _site = next;
            // Entries in use stay valid: responses hold their own references.
            DisposeCache(previous);
            if (change != SettingsChange.CacheLimits)
            {
                LogServing(_site);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            ZeroCopyLog.ConfigurationRejected(_logger, 1, ex.Message);
        }
    }
}

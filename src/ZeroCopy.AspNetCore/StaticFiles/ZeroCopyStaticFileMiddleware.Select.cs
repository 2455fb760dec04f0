using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Extensions;
using ZeroCopy.AspNetCore.Caching;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;
using ZeroCopy.AspNetCore.Files;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>
/// Which file answers a request: a precompressed sibling the client accepts, the file itself, a
/// directory's default document, or the SPA fallback — in that order — else the next middleware.
/// </summary>
internal sealed partial class ZeroCopyStaticFileMiddleware
{
    // identityHit: the file itself from the cache (owned by this call), when Invoke already found it.
    private async Task ServeAsync(HttpContext context, StaticFileSite site, string subPath, ResolvedFile? identityHit)
    {
        // A cached file's content type was looked up when it was admitted.
        string? contentType = identityHit?.Version.ContentType;
        var known = identityHit is not null || LookupContentType(site, subPath, out contentType);
        if (known)
        {
            var (file, vary, notAcceptable) = SelectRepresentation(context, site, subPath, contentType, identityHit);
            if (file is not null)
            {
                await RespondAsync(context, site, file, subPath, vary);
                return;
            }

            Debug.Assert(identityHit is null || notAcceptable, "The file itself exists: only identity;q=0 leaves no representation.");
            if (notAcceptable)
            {
                // identity;q=0 (or *;q=0) and no sibling the client accepts: RFC 9110 §12.5.3.
                context.Response.StatusCode = StatusCodes.Status406NotAcceptable;
                context.Response.Headers.Vary = "Accept-Encoding";
                return;
            }
        }
        else if (site.DefaultDocuments is null && site.FallbackFile is null)
        {
            StaticFileLog.FileTypeNotSupported(_logger, subPath);
            await _next(context);
            return;
        }

        if (site.DefaultDocuments is { } documents && await TryDefaultDocumentAsync(context, site, subPath, documents))
        {
            return;
        }

        if (site.FallbackFile is { } fallback && IsRoute(subPath)
            && LookupContentType(site, fallback, out var fallbackType)
            && TryResolve(site, fallback, fallbackType, variant: 0, out var fallbackFile))
        {
            await RespondAsync(context, site, fallbackFile!, fallback, vary: false);
            return;
        }

        if (!known)
        {
            StaticFileLog.FileTypeNotSupported(_logger, subPath);
        }

        await _next(context);
    }

    /// <summary>
    /// The best representation the client accepts. <c>vary</c> is true when the file has
    /// precompressed siblings (the response then depends on Accept-Encoding, whichever is sent).
    /// <c>identityHit</c> is the file itself from the cache, owned by this call: it is returned when
    /// chosen and released otherwise; its <see cref="ResolvedFile.KnownSiblings"/> spare the probes
    /// of siblings that did not exist at its last validation.
    /// </summary>
    private (ResolvedFile? File, bool Vary, bool NotAcceptable) SelectRepresentation(HttpContext context, StaticFileSite site, string subPath, string? contentType, ResolvedFile? identityHit)
    {
        var encodings = site.Precompressed;
        if (encodings.Length == 0)
        {
            if (identityHit is not null)
            {
                return (identityHit, false, false);
            }

            TryResolve(site, subPath, contentType, variant: 0, out var plain, logMissing: true);
            return (plain, false, false);
        }

        // Bit i: the i-th sibling may exist (all of them when nothing is known).
        var candidates = identityHit?.KnownSiblings ?? ~0;
        var accept = AcceptEncoding.Parse(context.Request.Headers.AcceptEncoding);
        var tried = 0;
        while (true)
        {
            // Best quality first; ties keep the configured order; identity wins over worse ones.
            var best = -1;
            var bestQuality = 0;
            for (var i = 0; i < encodings.Length; i++)
            {
                var quality = accept.Quality(encodings[i].Encoding);
                if ((tried & (1 << i)) == 0 && quality > bestQuality)
                {
                    best = i;
                    bestQuality = quality;
                }
            }

            if (best < 0 || bestQuality < accept.IdentityQuality)
            {
                break;
            }

            tried |= 1 << best;
            if ((candidates & (1 << best)) != 0 && TryResolve(site, subPath, contentType, (byte)(best + 1), out var variant))
            {
                identityHit?.Dispose();
                return (variant, true, false);
            }
        }

        if (accept.IdentityQuality == 0)
        {
            var varies = UntriedSiblingExists(site, subPath, tried, candidates);
            var exists = identityHit is not null || varies || FileExists(site, subPath);
            identityHit?.Dispose();
            return (null, varies, exists);
        }

        var identity = identityHit;
        if (identity is null && !TryResolve(site, subPath, contentType, variant: 0, out identity, logMissing: true))
        {
            // Nothing to answer with: whether siblings exist does not matter (no probes for a 404).
            return (null, false, false);
        }

        // The client gets the file itself; the response still varies if any sibling exists.
        return (identity, UntriedSiblingExists(site, subPath, tried, candidates), false);
    }

    private static bool UntriedSiblingExists(StaticFileSite site, string subPath, int tried, int candidates)
    {
        for (var i = 0; i < site.Precompressed.Length; i++)
        {
            if ((tried & (1 << i)) == 0 && (candidates & (1 << i)) != 0 && SiblingExists(site, subPath, (byte)(i + 1)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether a response without any content coding is acceptable (RFC 9110 §12.5.3): no Accept-Encoding, or identity not refused.</summary>
    private static bool IdentityAccepted(Microsoft.Extensions.Primitives.StringValues acceptEncoding)
        => acceptEncoding.Count == 0 || AcceptEncoding.Parse(acceptEncoding).IdentityQuality > 0;

    private static bool SiblingExists(StaticFileSite site, string subPath, byte variant)
    {
        if (site.Cache is { } cache && LinuxOnly.IsSupported
            && cache.TryGet(new CacheKey(subPath, variant), countMiss: false) is { } entry)
        {
            entry.Release();
            return true;
        }

        return site.FileProvider.GetFileInfo(subPath + site.Precompressed[variant - 1].Suffix).Exists;
    }

    private static bool FileExists(StaticFileSite site, string subPath) => site.FileProvider.GetFileInfo(subPath).Exists;

    /// <summary>
    /// Finds <paramref name="subPath"/> (or its sibling for a variant): a cache hit, or the provider
    /// and an open. A file found on disk is offered to the cache.
    /// </summary>
    private bool TryResolve(StaticFileSite site, string subPath, string? contentType, byte variant, out ResolvedFile? file, bool logMissing = false)
    {
        file = null;
        var key = new CacheKey(subPath, variant);
        var cache = LinuxOnly.IsSupported ? site.Cache : null;
        if (cache is not null && LinuxOnly.IsSupported)
        {
            if (cache.TryGet(key, countMiss: variant == 0) is { } entry)
            {
                file = new ResolvedFile(entry);
                return true;
            }
        }

        string? encoding = null;
        var filePath = subPath;
        if (variant != 0)
        {
            (encoding, var suffix) = site.Precompressed[variant - 1];
            filePath = subPath + suffix;
        }

        var info = site.FileProvider.GetFileInfo(filePath);
        if (!info.Exists)
        {
            if (logMissing)
            {
                StaticFileLog.FileNotFound(_logger, subPath);
            }

            return false;
        }

        file = FileResolver.Resolve(site.Root, site.ETags, info, filePath, contentType, encoding, out var outcome);
        if (file is null)
        {
            LogRefusal(outcome, filePath);
            return false;
        }

        if (cache is not null && LinuxOnly.IsSupported && file.Handle is { } handle
            && cache.Offer(key, filePath, file.Version, handle) is { } admitted)
        {
            file.Dispose();
            file = new ResolvedFile(admitted);
        }

        return true;
    }

    /// <summary>
    /// UseDefaultFiles' behaviour without rewriting the path: <c>/docs/</c> serves the first default
    /// document of <c>docs</c>; <c>/docs</c> is redirected to <c>/docs/</c> (301) when
    /// RedirectToAppendTrailingSlash is on, else served directly.
    /// </summary>
    private async Task<bool> TryDefaultDocumentAsync(HttpContext context, StaticFileSite site, string subPath, string[] documents)
    {
        var directory = subPath.EndsWith('/') ? subPath : subPath + "/";
        foreach (var name in documents)
        {
            var document = directory + name;
            if (!LookupContentType(site, document, out var contentType)
                || !TryResolve(site, document, contentType, variant: 0, out var file))
            {
                continue;
            }

            if (!subPath.EndsWith('/') && site.RedirectToAppendTrailingSlash)
            {
                file!.Dispose();
                var request = context.Request;
                context.Response.StatusCode = StatusCodes.Status301MovedPermanently;
                context.Response.Headers.Location = UriHelper.BuildAbsolute(request.Scheme, request.Host, request.PathBase, request.Path + "/", request.QueryString);
                return true;
            }

            await RespondAsync(context, site, file!, document, vary: false);
            return true;
        }

        return false;
    }

    /// <summary>A client-side route: the last segment has no dot (MapFallbackToFile's "nonfile").</summary>
    private static bool IsRoute(string subPath) => !subPath.AsSpan(subPath.LastIndexOf('/') + 1).Contains('.');
}

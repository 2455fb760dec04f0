using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using ZeroCopy.AspNetCore.Caching;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Files;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>
/// Finds the file that answers a path: a cache hit, else the provider and an open (a file found on
/// disk is offered to the cache); and among a file and its precompressed siblings, the
/// representation the client accepts best.
/// </summary>
internal sealed class FileLocator(ILogger logger)
{
    /// <summary>The content type for <paramref name="subPath"/>, or the default one when unknown types are served.</summary>
    public static bool LookupContentType(StaticFileSite site, string subPath, out string? contentType)
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

    /// <summary>Whether a response without any content coding is acceptable (RFC 9110 §12.5.3): no Accept-Encoding, or identity not refused.</summary>
    public static bool IdentityAccepted(StringValues acceptEncoding)
        => acceptEncoding.Count == 0 || AcceptEncoding.Parse(acceptEncoding).IdentityQuality > 0;

    /// <summary>
    /// The best representation the client accepts. <c>Vary</c> is true when the file has
    /// precompressed siblings (the response then depends on Accept-Encoding, whichever is sent).
    /// <paramref name="identityHit"/> is the file itself from the cache, owned by this call: it is
    /// returned when chosen and released otherwise; its <see cref="ResolvedFile.KnownSiblings"/> spare
    /// the probes of siblings that did not exist at its last validation.
    /// </summary>
    public (ResolvedFile? File, bool Vary, bool NotAcceptable) SelectRepresentation(in FileRequest request, string? contentType, ResolvedFile? identityHit)
        => SelectRepresentation(request.Site, request.SubPath, request.Context.Request.Headers.AcceptEncoding, contentType, identityHit);

    /// <summary>
    /// The file itself from the cache when <paramref name="subPath"/> (the path below RequestPath)
    /// is a cached file: the first thing a GET or HEAD is answered from, by the middleware and by
    /// the short-circuit lane alike. The caller owns the reference.
    /// </summary>
    public static CacheEntry? HotEntry(StaticFileSite site, string subPath)
        => site.Cache is { } cache && LinuxOnly.IsSupported ? cache.TryGet(new CacheKey(subPath, 0), countMiss: false) : null;

    /// <inheritdoc cref="SelectRepresentation(in FileRequest, string?, ResolvedFile?)"/>
    public (ResolvedFile? File, bool Vary, bool NotAcceptable) SelectRepresentation(StaticFileSite site, string subPath, StringValues acceptEncoding, string? contentType, ResolvedFile? identityHit)
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
        var accept = AcceptEncoding.Parse(acceptEncoding);
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
            var exists = identityHit is not null || varies || site.FileProvider.GetFileInfo(subPath).Exists;
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

    /// <summary>
    /// Finds <paramref name="subPath"/> (or its sibling for a variant): a cache hit, or the provider
    /// and an open. A file found on disk is offered to the cache.
    /// </summary>
    public bool TryResolve(StaticFileSite site, string subPath, string? contentType, byte variant, out ResolvedFile? file, bool logMissing = false)
    {
        file = null;
        var key = new CacheKey(subPath, variant);
        var cache = LinuxOnly.IsSupported ? site.Cache : null;
        if (cache is not null && LinuxOnly.IsSupported && cache.TryGet(key, countMiss: variant == 0) is { } entry)
        {
            file = new ResolvedFile(entry);
            return true;
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
                StaticFileLog.FileNotFound(logger, subPath);
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
    /// UseDefaultFiles' lookup without rewriting the path: the first default document of the
    /// directory <paramref name="subPath"/> names that exists and has a known content type.
    /// </summary>
    public ResolvedFile? FindDefaultDocument(StaticFileSite site, string subPath, string[] documents, out string document)
    {
        var directory = subPath.EndsWith('/') ? subPath : subPath + "/";
        foreach (var name in documents)
        {
            document = directory + name;
            if (LookupContentType(site, document, out var contentType)
                && TryResolve(site, document, contentType, variant: 0, out var file))
            {
                return file;
            }
        }

        document = string.Empty;
        return null;
    }

    /// <summary>A client-side route: the last segment has no dot (MapFallbackToFile's "nonfile").</summary>
    public static bool IsRoute(string subPath) => !subPath.AsSpan(subPath.LastIndexOf('/') + 1).Contains('.');

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

    private void LogRefusal(OpenOutcome outcome, string subPath)
    {
        switch (outcome)
        {
            case OpenOutcome.OutsideRoot:
                StaticFileLog.OutsideRoot(logger, subPath);
                break;
            case OpenOutcome.NotRegularFile:
                StaticFileLog.NotRegularFile(logger, subPath);
                break;
            case OpenOutcome.AccessDenied:
                StaticFileLog.AccessDenied(logger, subPath);
                break;
            default:
                StaticFileLog.FileNotFound(logger, subPath);
                break;
        }
    }
}

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.FileProviders;
using ZeroCopy.AspNetCore.Files;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>
/// Everything one <c>UseZeroCopyStaticFiles</c> middleware needs per request, resolved from the
/// options passed in code and the current configuration. Immutable; replaced as a whole when the
/// configuration changes.
/// </summary>
internal sealed class StaticFileSite
{
    public required PathString RequestPath { get; init; }

    public required IFileProvider FileProvider { get; init; }

    public required ContentTypeResolver ContentTypes { get; init; }

    public required bool ServeUnknownFileTypes { get; init; }

    public required string? DefaultContentType { get; init; }

    public required HttpsCompressionMode HttpsCompression { get; init; }

    /// <summary>The user's callback, or null when it is the stock no-op (no context is then allocated).</summary>
    public required Action<StaticFileResponseContext>? OnPrepareResponse { get; init; }

    /// <summary>The user's async callback, or null when it is the stock no-op.</summary>
    public required Func<StaticFileResponseContext, Task>? OnPrepareResponseAsync { get; init; }

    public required string? CacheControl { get; init; }

    /// <summary>Cache-Control by file (rules, then <see cref="CacheControl"/>).</summary>
    public required CacheControlRules CacheControlRules { get; init; }

    public required ETagFactory ETags { get; init; }

    /// <summary>2..MaxRanges ranges are answered multipart; 1 keeps stock's behaviour.</summary>
    public required int MaxRanges { get; init; }

    /// <summary>Precompressed encodings in order of preference with their file suffixes; empty when off.</summary>
    public required (string Encoding, string Suffix)[] Precompressed { get; init; }

    /// <summary>Default document names, or null when default documents are off.</summary>
    public required string[]? DefaultDocuments { get; init; }

    /// <summary>The SPA fallback file ("/index.html"), or null.</summary>
    public required string? FallbackFile { get; init; }

    public required bool RedirectToAppendTrailingSlash { get; init; }

    public required ZeroCopyMode Mode { get; init; }

    public required long MinZeroCopyBytes { get; init; }

    /// <summary>The opener for <see cref="FileProvider"/>'s directory when it is a <see cref="PhysicalFileProvider"/> on Linux.</summary>
    public required RootDirectory? Root { get; init; }

    /// <summary>The hot-file cache (Linux, physical root, cache enabled), else null.</summary>
    public required Caching.FileCache? Cache { get; init; }

    /// <summary>The short-circuit lane may answer this site's cached files (set, and no prepare callbacks).</summary>
    public required bool ShortCircuit { get; init; }

    public bool HasPrepareCallbacks => OnPrepareResponse is not null || OnPrepareResponseAsync is not null;
}

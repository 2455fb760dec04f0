using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.FileProviders;
using ZeroCopy.AspNetCore.Caching;
using ZeroCopy.AspNetCore.Configuration;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;
using ZeroCopy.AspNetCore.Files;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>
/// Combines the <see cref="StaticFileOptions"/> of one middleware with the current
/// <see cref="ZeroCopyStaticFilesOptions"/>.
/// </summary>
internal static class StaticFileSiteBuilder
{
    // StaticFileOptions initialises both callbacks to shared static no-ops; comparing against the
    // ones of a fresh instance tells whether the user set them, without reflection.
    private static readonly StaticFileOptions s_defaults = new();

    /// <param name="code">The options the middleware was created with.</param>
    /// <param name="codeWins">
    /// True for the overloads that take a path or options: their RequestPath, ServeUnknownFileTypes
    /// and DefaultContentType stand. False for the parameterless overload, where the configuration
    /// section wins over the <see cref="StaticFileOptions"/> registered in DI.
    /// </param>
    /// <param name="settings">The validated configuration in effect.</param>
    /// <param name="roots">The application's shared providers and root openers.</param>
    /// <param name="environment">Supplies the web root when no provider is configured.</param>
    /// <param name="metrics">Counts the cache of the new site.</param>
    public static StaticFileSite Build(StaticFileOptions code, bool codeWins, ZeroCopySettings settings, FileRoots roots, IWebHostEnvironment environment, ZeroCopyMetrics metrics)
    {
        var config = settings.Current;

        IFileProvider provider;
        if (config.Root is { } root && (!codeWins || code.FileProvider is null))
        {
            provider = roots.ProviderFor(ZeroCopyOptionsValidator.ResolveRoot(root, settings.ContentRootPath));
        }
        else
        {
            provider = code.FileProvider ?? environment.WebRootFileProvider
                ?? throw new InvalidOperationException("Missing FileProvider.");
        }

        var requestPath = code.RequestPath;
        var serveUnknown = code.ServeUnknownFileTypes;
        var defaultContentType = code.DefaultContentType;
        if (!codeWins)
        {
            if (config.RequestPath is { } configuredPath)
            {
                requestPath = new PathString(configuredPath);
            }

            serveUnknown = config.ServeUnknownFileTypes ?? serveUnknown;
            defaultContentType = config.DefaultContentType ?? defaultContentType;
        }

        var rootDirectory = provider is PhysicalFileProvider physical ? roots.DirectoryFor(physical.Root) : null;
        var manifest = config.ETag.Manifest is { } m ? Path.GetFullPath(Path.Combine(settings.ContentRootPath, m)) : null;
        var etags = new ETagFactory(config.ETag.Mode, manifest);
        (string, string)[] precompressed = config.Precompressed.Enabled
            ? [.. config.Precompressed.Encodings.Select(e => (e.ToLowerInvariant(), ZeroCopyOptionsValidator.KnownEncodings[e]))]
            : [];

        var cacheControlRules = new CacheControlRules(config.CacheControlRules, config.CacheControl);
        FileCache? cache = null;
        if (rootDirectory is not null && config.Cache.Enabled && LinuxOnly.IsSupported)
        {
            cache = new FileCache(config.Cache, rootDirectory, provider, etags, keepDescriptorFrom: Math.Max(1, config.MinZeroCopyBytes), metrics, [.. precompressed.Select(static p => p.Item2)], cacheControlRules.For);
        }

        var onPrepare = ReferenceEquals(code.OnPrepareResponse, s_defaults.OnPrepareResponse) ? null : code.OnPrepareResponse;
        var onPrepareAsync = ReferenceEquals(code.OnPrepareResponseAsync, s_defaults.OnPrepareResponseAsync) ? null : code.OnPrepareResponseAsync;
        return new StaticFileSite
        {
            RequestPath = requestPath,
            FileProvider = provider,
            ContentTypes = new ContentTypeResolver(code.ContentTypeProvider ?? new FileExtensionContentTypeProvider(), config.ContentTypes),
            ServeUnknownFileTypes = serveUnknown,
            DefaultContentType = defaultContentType,
            HttpsCompression = code.HttpsCompression,
            OnPrepareResponse = onPrepare,
            OnPrepareResponseAsync = onPrepareAsync,
            CacheControl = config.CacheControl,
            CacheControlRules = cacheControlRules,
            ETags = etags,
            MaxRanges = config.MaxRanges,
            Precompressed = precompressed,
            DefaultDocuments = config.DefaultDocuments.Enabled ? [.. config.DefaultDocuments.FileNames] : null,
            FallbackFile = config.FallbackFile is { } fallback ? "/" + fallback.TrimStart('/') : null,
            RedirectToAppendTrailingSlash = code.RedirectToAppendTrailingSlash,
            Mode = config.Mode,
            MinZeroCopyBytes = config.MinZeroCopyBytes,
            Root = rootDirectory,
            Cache = cache,
            // A prepare callback may change any response: the lane cannot know what it would send.
            ShortCircuit = config.ShortCircuit.Enabled && cache is not null && onPrepare is null && onPrepareAsync is null,
        };
    }
}

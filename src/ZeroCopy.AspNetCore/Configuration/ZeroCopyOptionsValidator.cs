using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Net.Http.Headers;

namespace ZeroCopy.AspNetCore.Configuration;

/// <summary>
/// Checks a <see cref="ZeroCopyStaticFilesOptions"/> (and the configurable part of
/// <see cref="ZeroCopyTransportOptions"/>) and reports every problem at once.
/// </summary>
/// <remarks>
/// Each message starts with the configuration key of the value it is about, built from the
/// <c>nameof</c> of the properties on the way (the keys <see cref="ConfigurationSectionReader"/> reads).
/// </remarks>
internal static class ZeroCopyOptionsValidator
{

    public static List<string> Validate(ZeroCopyStaticFilesOptions options, string contentRootPath)
    {
        var errors = new List<string>(options.BindingErrors);

        if (options.Root is { } root)
        {
            var full = ResolveRoot(root, contentRootPath);
            if (!Directory.Exists(full))
            {
                errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.Root))}: the directory '{full}' does not exist.");
            }
        }

        if (options.RequestPath is { } requestPath)
        {
            if (!requestPath.StartsWith('/'))
            {
                errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.RequestPath))}: '{requestPath}' must start with '/'.");
            }
            else if (requestPath.Length > 1 && requestPath.EndsWith('/'))
            {
                errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.RequestPath))}: '{requestPath}' must not end with '/'.");
            }
            else if (requestPath == "/")
            {
                errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.RequestPath))}: use an empty value instead of '/' to serve from the site root.");
            }
        }

        if (options.DefaultContentType is { } defaultType && !MediaTypeHeaderValue.TryParse(defaultType, out _))
        {
            errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.DefaultContentType))}: '{defaultType}' is not a media type.");
        }

        foreach (var (extension, contentType) in options.ContentTypes)
        {
            var ext = extension.TrimStart('.');
            if (ext.Length == 0 || ext.AsSpan().IndexOfAny('/', '\\', '.') >= 0)
            {
                errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.ContentTypes))}: '{extension}' is not a file extension.");
            }

            if (!MediaTypeHeaderValue.TryParse(contentType, out _))
            {
                errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.ContentTypes), extension)}: '{contentType}' is not a media type.");
            }
        }

        if (options.CacheControl is { } cacheControl && !CacheControlHeaderValue.TryParse(cacheControl, out _))
        {
            errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.CacheControl))}: '{cacheControl}' is not a valid Cache-Control value.");
        }

        if (!Enum.IsDefined(options.Mode))
        {
            errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.Mode))}: {(int)options.Mode} is not one of {string.Join(", ", Enum.GetNames<ZeroCopyMode>())}.");
        }

        if (options.MinZeroCopyBytes < 0)
        {
            errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.MinZeroCopyBytes))}: {options.MinZeroCopyBytes} must be 0 or more.");
        }

        var cache = options.Cache;
        if (cache.MaxFileBytes < 0)
        {
            errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.Cache), nameof(ZeroCopyCacheOptions.MaxFileBytes))}: {cache.MaxFileBytes} must be 0 or more.");
        }

        if (cache.MaxTotalBytes < 0)
        {
            errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.Cache), nameof(ZeroCopyCacheOptions.MaxTotalBytes))}: {cache.MaxTotalBytes} must be 0 or more.");
        }
        else if (cache.MaxFileBytes > cache.MaxTotalBytes)
        {
            errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.Cache), nameof(ZeroCopyCacheOptions.MaxFileBytes))}: {cache.MaxFileBytes} must not exceed {ConfigurationPath.Combine(nameof(ZeroCopyStaticFilesOptions.Cache), nameof(ZeroCopyCacheOptions.MaxTotalBytes))} ({cache.MaxTotalBytes}).");
        }

        if (cache.MaxEntries < 1)
        {
            errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.Cache), nameof(ZeroCopyCacheOptions.MaxEntries))}: {cache.MaxEntries} must be 1 or more.");
        }

        if (cache.MinHits < 1)
        {
            errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.Cache), nameof(ZeroCopyCacheOptions.MinHits))}: {cache.MinHits} must be 1 or more.");
        }

        if (cache.RevalidateAfter < TimeSpan.Zero)
        {
            errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.Cache), nameof(ZeroCopyCacheOptions.RevalidateAfter))}: {cache.RevalidateAfter} must not be negative.");
        }

        ValidateFeatures(options, contentRootPath, errors);
        return errors;
    }

    /// <summary>The problems of the transport's configurable options (<c>ZeroCopyStaticFiles:Transport:*</c>), whether set in code or configuration.</summary>
    public static List<string> ValidateTransport(ZeroCopyTransportOptions options)
    {
        var errors = new List<string>(options.BindingErrors);
        if (!Enum.IsDefined(options.Engine))
        {
            errors.Add($"{Key(ConfigurationSectionReader.TransportKey, nameof(ZeroCopyTransportOptions.Engine))}: {(int)options.Engine} is not one of {string.Join(", ", Enum.GetNames<ZeroCopyTransportEngine>())}.");
        }

        if (options.EventLoopCount is < 1)
        {
            errors.Add($"{Key(ConfigurationSectionReader.TransportKey, nameof(ZeroCopyTransportOptions.EventLoopCount))}: {options.EventLoopCount} must be 1 or more.");
        }

        return errors;
    }

    /// <summary>The encodings precompressed siblings may have, with their file suffixes.</summary>
    public static readonly IReadOnlyDictionary<string, string> KnownEncodings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["br"] = ".br",
        ["gzip"] = ".gz",
        ["zstd"] = ".zst",
    };

    private static void ValidateFeatures(ZeroCopyStaticFilesOptions options, string contentRootPath, List<string> errors)
    {
        if (options.MaxRanges is < 1 or > 1000)
        {
            errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.MaxRanges))}: {options.MaxRanges} must be between 1 and 1000.");
        }

        for (var i = 0; i < options.CacheControlRules.Count; i++)
        {
            var rule = options.CacheControlRules[i];
            if (string.IsNullOrWhiteSpace(rule.Match))
            {
                errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.CacheControlRules), Index(i), nameof(CacheControlRule.Match))}: a glob or an extension is required.");
            }

            if (!CacheControlHeaderValue.TryParse(rule.CacheControl, out _))
            {
                errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.CacheControlRules), Index(i), nameof(CacheControlRule.CacheControl))}: '{rule.CacheControl}' is not a valid Cache-Control value.");
            }
        }

        if (!Enum.IsDefined(options.ETag.Mode))
        {
            errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.ETag), nameof(ZeroCopyETagOptions.Mode))}: {(int)options.ETag.Mode} is not one of {string.Join(", ", Enum.GetNames<ETagMode>())}.");
        }

        if (options.ETag.Manifest is { } manifest && !File.Exists(Path.GetFullPath(Path.Combine(contentRootPath, manifest))))
        {
            errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.ETag), nameof(ZeroCopyETagOptions.Manifest))}: the file '{Path.GetFullPath(Path.Combine(contentRootPath, manifest))}' does not exist.");
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var encoding in options.Precompressed.Encodings)
        {
            if (!KnownEncodings.ContainsKey(encoding))
            {
                errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.Precompressed), nameof(ZeroCopyPrecompressedOptions.Encodings))}: '{encoding}' is not one of {string.Join(", ", KnownEncodings.Keys)}.");
            }
            else if (!seen.Add(encoding))
            {
                errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.Precompressed), nameof(ZeroCopyPrecompressedOptions.Encodings))}: '{encoding}' is listed twice.");
            }
        }

        foreach (var name in options.DefaultDocuments.FileNames)
        {
            if (string.IsNullOrWhiteSpace(name) || name.AsSpan().IndexOfAny('/', '\\') >= 0)
            {
                errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.DefaultDocuments), nameof(ZeroCopyDefaultDocumentsOptions.FileNames))}: '{name}' is not a file name.");
            }
        }

        if (options.FallbackFile is { } fallback
            && (Path.IsPathRooted(fallback.TrimStart('/')) || fallback.Split('/', '\\').Any(s => s == "..")))
        {
            errors.Add($"{Key(nameof(ZeroCopyStaticFilesOptions.FallbackFile))}: '{fallback}' must be a path inside the root.");
        }
    }

    /// <summary>The configuration key <c>ZeroCopyStaticFiles:a:b…</c> of a setting.</summary>
    private static string Key(params ReadOnlySpan<string> path)
        => ConfigurationPath.Combine([ZeroCopyStaticFilesOptions.SectionName, .. path]);

    /// <summary>The key segment of a configuration array's element.</summary>
    private static string Index(int index) => index.ToString(CultureInfo.InvariantCulture);

    /// <summary>The absolute directory a configured <c>Root</c> names.</summary>
    public static string ResolveRoot(string root, string contentRootPath)
        => Path.GetFullPath(Path.Combine(contentRootPath, root));
}

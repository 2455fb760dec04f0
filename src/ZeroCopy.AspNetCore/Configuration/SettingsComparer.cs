using Microsoft.Extensions.Configuration;

namespace ZeroCopy.AspNetCore.Configuration;

/// <summary>What a reload changed, from the least to the most disruptive.</summary>
internal enum SettingsChange
{
    /// <summary>Nothing the library reads: a touched file, another section, a reformatted value.</summary>
    None,

    /// <summary>
    /// Only limits of the hot-file cache (every <c>Cache</c> key but <c>Enabled</c>): responses stay
    /// the same, the cached files that fit the new limits stay cached.
    /// </summary>
    CacheLimits,

    /// <summary>Anything else: responses may change, so every site is rebuilt and its cache emptied.</summary>
    Responses,
}

/// <summary>
/// Compares two <see cref="ZeroCopyStaticFilesOptions"/> value by value and names the keys that differ.
/// </summary>
/// <remarks>
/// A property missing here would make its changes invisible to a reload; a test changes every
/// public property of the options in turn and requires each to be seen.
/// </remarks>
internal static class SettingsComparer
{
    /// <summary>The keys (<c>Cache:MaxEntries</c>, ...) whose values differ, and the kind of change they make.</summary>
    public static (SettingsChange Change, List<string> Keys) Compare(ZeroCopyStaticFilesOptions current, ZeroCopyStaticFilesOptions next)
    {
        var responses = new List<string>();
        Check(responses, current.Root == next.Root, nameof(ZeroCopyStaticFilesOptions.Root));
        Check(responses, current.RequestPath == next.RequestPath, nameof(ZeroCopyStaticFilesOptions.RequestPath));
        Check(responses, current.ServeUnknownFileTypes == next.ServeUnknownFileTypes, nameof(ZeroCopyStaticFilesOptions.ServeUnknownFileTypes));
        Check(responses, current.DefaultContentType == next.DefaultContentType, nameof(ZeroCopyStaticFilesOptions.DefaultContentType));
        Check(responses, SameMappings(current.ContentTypes, next.ContentTypes), nameof(ZeroCopyStaticFilesOptions.ContentTypes));
        Check(responses, current.CacheControl == next.CacheControl, nameof(ZeroCopyStaticFilesOptions.CacheControl));
        Check(responses, current.Mode == next.Mode, nameof(ZeroCopyStaticFilesOptions.Mode));
        Check(responses, current.MinZeroCopyBytes == next.MinZeroCopyBytes, nameof(ZeroCopyStaticFilesOptions.MinZeroCopyBytes));
        Check(responses, current.Cache.Enabled == next.Cache.Enabled, Key(nameof(ZeroCopyStaticFilesOptions.Cache), nameof(ZeroCopyCacheOptions.Enabled)));
        Check(responses, current.ShortCircuit.Enabled == next.ShortCircuit.Enabled, Key(nameof(ZeroCopyStaticFilesOptions.ShortCircuit), nameof(ZeroCopyShortCircuitOptions.Enabled)));
        Check(responses, current.MaxRanges == next.MaxRanges, nameof(ZeroCopyStaticFilesOptions.MaxRanges));
        Check(responses, SameRules(current.CacheControlRules, next.CacheControlRules), nameof(ZeroCopyStaticFilesOptions.CacheControlRules));
        Check(responses, current.ETag.Mode == next.ETag.Mode, Key(nameof(ZeroCopyStaticFilesOptions.ETag), nameof(ZeroCopyETagOptions.Mode)));
        Check(responses, current.ETag.Manifest == next.ETag.Manifest, Key(nameof(ZeroCopyStaticFilesOptions.ETag), nameof(ZeroCopyETagOptions.Manifest)));
        Check(responses, current.Precompressed.Enabled == next.Precompressed.Enabled, Key(nameof(ZeroCopyStaticFilesOptions.Precompressed), nameof(ZeroCopyPrecompressedOptions.Enabled)));
        Check(responses, current.Precompressed.Encodings.SequenceEqual(next.Precompressed.Encodings, StringComparer.Ordinal), Key(nameof(ZeroCopyStaticFilesOptions.Precompressed), nameof(ZeroCopyPrecompressedOptions.Encodings)));
        Check(responses, current.DefaultDocuments.Enabled == next.DefaultDocuments.Enabled, Key(nameof(ZeroCopyStaticFilesOptions.DefaultDocuments), nameof(ZeroCopyDefaultDocumentsOptions.Enabled)));
        Check(responses, current.DefaultDocuments.FileNames.SequenceEqual(next.DefaultDocuments.FileNames, StringComparer.Ordinal), Key(nameof(ZeroCopyStaticFilesOptions.DefaultDocuments), nameof(ZeroCopyDefaultDocumentsOptions.FileNames)));
        Check(responses, current.FallbackFile == next.FallbackFile, nameof(ZeroCopyStaticFilesOptions.FallbackFile));

        var limits = new List<string>();
        var (a, b) = (current.Cache, next.Cache);
        Check(limits, a.MaxFileBytes == b.MaxFileBytes, Key(nameof(ZeroCopyStaticFilesOptions.Cache), nameof(ZeroCopyCacheOptions.MaxFileBytes)));
        Check(limits, a.MaxTotalBytes == b.MaxTotalBytes, Key(nameof(ZeroCopyStaticFilesOptions.Cache), nameof(ZeroCopyCacheOptions.MaxTotalBytes)));
        Check(limits, a.MaxEntries == b.MaxEntries, Key(nameof(ZeroCopyStaticFilesOptions.Cache), nameof(ZeroCopyCacheOptions.MaxEntries)));
        Check(limits, a.MinHits == b.MinHits, Key(nameof(ZeroCopyStaticFilesOptions.Cache), nameof(ZeroCopyCacheOptions.MinHits)));
        Check(limits, a.RevalidateAfter == b.RevalidateAfter, Key(nameof(ZeroCopyStaticFilesOptions.Cache), nameof(ZeroCopyCacheOptions.RevalidateAfter)));

        var change = responses.Count > 0 ? SettingsChange.Responses
            : limits.Count > 0 ? SettingsChange.CacheLimits
            : SettingsChange.None;
        responses.AddRange(limits);
        return (change, responses);
    }

    private static void Check(List<string> changed, bool same, string key)
    {
        if (!same)
        {
            changed.Add(key);
        }
    }

    private static string Key(string section, string key) => ConfigurationPath.Combine(section, key);

    /// <summary>Same extensions (compared as the dictionary compares its keys) with the same content types.</summary>
    private static bool SameMappings(IDictionary<string, string> a, IDictionary<string, string> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        foreach (var (extension, contentType) in a)
        {
            if (!b.TryGetValue(extension, out var other) || !string.Equals(contentType, other, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Rules apply first match first: the same rules in the same order.</summary>
    private static bool SameRules(IList<CacheControlRule> a, IList<CacheControlRule> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Count; i++)
        {
            if (!string.Equals(a[i].Match, b[i].Match, StringComparison.Ordinal)
                || !string.Equals(a[i].CacheControl, b[i].CacheControl, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }
}

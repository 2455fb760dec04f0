using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace ZeroCopy.AspNetCore.Configuration;

/// <summary>
/// Reads the <c>ZeroCopyStaticFiles</c> section into <see cref="ZeroCopyStaticFilesOptions"/>.
/// </summary>
/// <remarks>
/// The configuration binder throws on the first value it cannot convert; this reader records every
/// such problem in <see cref="ZeroCopyStaticFilesOptions.BindingErrors"/> instead, so a bad file is
/// reported in one message and a bad reload never throws on the configuration change callback
/// (OptionsMonitor re-creates the options inside that callback).
/// </remarks>
internal sealed class ConfigurationSectionReader : IConfigureOptions<ZeroCopyStaticFilesOptions>
{
    private readonly IConfiguration _configuration;

    public ConfigurationSectionReader(IConfiguration configuration) => _configuration = configuration;

    public void Configure(ZeroCopyStaticFilesOptions options)
        => Read(_configuration.GetSection(ZeroCopyStaticFilesOptions.SectionName), options);

    internal static void Read(IConfigurationSection section, ZeroCopyStaticFilesOptions options)
    {
        foreach (var child in section.GetChildren())
        {
            switch (child.Key.ToUpperInvariant())
            {
                case "ROOT":
                    options.Root = NullIfEmpty(child.Value);
                    break;
                case "REQUESTPATH":
                    options.RequestPath = NullIfEmpty(child.Value);
                    break;
                case "SERVEUNKNOWNFILETYPES":
                    if (TryBool(child, options, out var serveUnknown))
                    {
                        options.ServeUnknownFileTypes = serveUnknown;
                    }

                    break;
                case "DEFAULTCONTENTTYPE":
                    options.DefaultContentType = NullIfEmpty(child.Value);
                    break;
                case "CONTENTTYPES":
                    foreach (var mapping in child.GetChildren())
                    {
                        if (string.IsNullOrWhiteSpace(mapping.Value))
                        {
                            options.BindingErrors.Add($"{mapping.Path}: a content type is required.");
                        }
                        else
                        {
                            options.ContentTypes[mapping.Key] = mapping.Value.Trim();
                        }
                    }

                    break;
                case "CACHECONTROL":
                    options.CacheControl = NullIfEmpty(child.Value);
                    break;
                case "MODE":
                    if (TryEnum<ZeroCopyMode>(child, options, out var mode))
                    {
                        options.Mode = mode;
                    }

                    break;
                case "MINZEROCOPYBYTES":
                    if (TryInt64(child, options, out var minBytes))
                    {
                        options.MinZeroCopyBytes = minBytes;
                    }

                    break;
                case "CACHE":
                    ReadCache(child, options);
                    break;
                case "MAXRANGES":
                    if (TryInt64(child, options, out var maxRanges) && FitsInt32(child, options, maxRanges))
                    {
                        options.MaxRanges = (int)maxRanges;
                    }

                    break;
                case "CACHECONTROLRULES":
                    options.CacheControlRules = ReadRules(child, options);
                    break;
                case "ETAG":
                    ReadETag(child, options);
                    break;
                case "PRECOMPRESSED":
                    ReadPrecompressed(child, options);
                    break;
                case "DEFAULTDOCUMENTS":
                    ReadDefaultDocuments(child, options);
                    break;
                case "FALLBACKFILE":
                    options.FallbackFile = NullIfEmpty(child.Value);
                    break;
                default:
                    options.UnknownKeys.Add(child.Path);
                    break;
            }
        }
    }

    private static void ReadCache(IConfigurationSection section, ZeroCopyStaticFilesOptions options)
    {
        var cache = options.Cache;
        foreach (var child in section.GetChildren())
        {
            switch (child.Key.ToUpperInvariant())
            {
                case "ENABLED":
                    if (TryBool(child, options, out var enabled))
                    {
                        cache.Enabled = enabled;
                    }

                    break;
                case "MAXFILEBYTES":
                    if (TryInt64(child, options, out var maxFileBytes))
                    {
                        cache.MaxFileBytes = maxFileBytes;
                    }

                    break;
                case "MAXTOTALBYTES":
                    if (TryInt64(child, options, out var maxTotalBytes))
                    {
                        cache.MaxTotalBytes = maxTotalBytes;
                    }

                    break;
                case "MAXENTRIES":
                    if (TryInt64(child, options, out var maxEntries) && FitsInt32(child, options, maxEntries))
                    {
                        cache.MaxEntries = (int)maxEntries;
                    }

                    break;
                case "MINHITS":
                    if (TryInt64(child, options, out var minHits) && FitsInt32(child, options, minHits))
                    {
                        cache.MinHits = (int)minHits;
                    }

                    break;
                case "MISSESPERADMISSION":
                    if (TryInt64(child, options, out var missesPerAdmission) && FitsInt32(child, options, missesPerAdmission))
                    {
                        cache.MissesPerAdmission = (int)missesPerAdmission;
                    }

                    break;
                case "REVALIDATEAFTER":
                    if (TryTimeSpan(child, options, out var revalidateAfter))
                    {
                        cache.RevalidateAfter = revalidateAfter;
                    }

                    break;
                default:
                    options.UnknownKeys.Add(child.Path);
                    break;
            }
        }
    }

    private static List<CacheControlRule> ReadRules(IConfigurationSection section, ZeroCopyStaticFilesOptions options)
    {
        var rules = new List<CacheControlRule>();
        foreach (var item in section.GetChildren())
        {
            var rule = new CacheControlRule();
            foreach (var field in item.GetChildren())
            {
                switch (field.Key.ToUpperInvariant())
                {
                    case "MATCH":
                        rule.Match = field.Value?.Trim() ?? string.Empty;
                        break;
                    case "CACHECONTROL":
                        rule.CacheControl = field.Value?.Trim() ?? string.Empty;
                        break;
                    default:
                        options.UnknownKeys.Add(field.Path);
                        break;
                }
            }

            rules.Add(rule);
        }

        return rules;
    }

    private static void ReadETag(IConfigurationSection section, ZeroCopyStaticFilesOptions options)
    {
        foreach (var child in section.GetChildren())
        {
            switch (child.Key.ToUpperInvariant())
            {
                case "MODE":
                    if (TryEnum<ETagMode>(child, options, out var mode))
                    {
                        options.ETag.Mode = mode;
                    }

                    break;
                case "MANIFEST":
                    options.ETag.Manifest = NullIfEmpty(child.Value);
                    break;
                default:
                    options.UnknownKeys.Add(child.Path);
                    break;
            }
        }
    }

    private static void ReadPrecompressed(IConfigurationSection section, ZeroCopyStaticFilesOptions options)
    {
        foreach (var child in section.GetChildren())
        {
            switch (child.Key.ToUpperInvariant())
            {
                case "ENABLED":
                    if (TryBool(child, options, out var enabled))
                    {
                        options.Precompressed.Enabled = enabled;
                    }

                    break;
                case "ENCODINGS":
                    options.Precompressed.Encodings = Strings(child);
                    break;
                default:
                    options.UnknownKeys.Add(child.Path);
                    break;
            }
        }
    }

    private static void ReadDefaultDocuments(IConfigurationSection section, ZeroCopyStaticFilesOptions options)
    {
        foreach (var child in section.GetChildren())
        {
            switch (child.Key.ToUpperInvariant())
            {
                case "ENABLED":
                    if (TryBool(child, options, out var enabled))
                    {
                        options.DefaultDocuments.Enabled = enabled;
                    }

                    break;
                case "FILENAMES":
                    options.DefaultDocuments.FileNames = Strings(child);
                    break;
                default:
                    options.UnknownKeys.Add(child.Path);
                    break;
            }
        }
    }

    /// <summary>A configuration array (children 0, 1, ...) or a comma-separated value.</summary>
    private static List<string> Strings(IConfigurationSection section)
    {
        if (section.Value is { } single)
        {
            return [.. single.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
        }

        var values = new List<string>();
        foreach (var child in section.GetChildren())
        {
            if (!string.IsNullOrWhiteSpace(child.Value))
            {
                values.Add(child.Value.Trim());
            }
        }

        return values;
    }

    private static bool FitsInt32(IConfigurationSection child, ZeroCopyStaticFilesOptions options, long value)
    {
        if (value is >= int.MinValue and <= int.MaxValue)
        {
            return true;
        }

        options.BindingErrors.Add($"{child.Path}: {value} is too large.");
        return false;
    }

    /// <summary>A TimeSpan in invariant format ("00:00:01") or a number of seconds ("1.5").</summary>
    private static bool TryTimeSpan(IConfigurationSection child, ZeroCopyStaticFilesOptions options, out TimeSpan value)
    {
        value = default;
        if (child.Value is null)
        {
            return false;
        }

        var text = child.Value.Trim();
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && double.IsFinite(seconds))
        {
            value = TimeSpan.FromSeconds(seconds);
            return true;
        }

        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value))
        {
            return true;
        }

        options.BindingErrors.Add($"{child.Path}: '{child.Value}' is not a time span (\"00:00:01\") or a number of seconds.");
        return false;
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static bool TryBool(IConfigurationSection child, ZeroCopyStaticFilesOptions options, out bool value)
    {
        value = false;
        if (child.Value is null)
        {
            return false;
        }

        if (bool.TryParse(child.Value.Trim(), out value))
        {
            return true;
        }

        options.BindingErrors.Add($"{child.Path}: '{child.Value}' is not true or false.");
        return false;
    }

    internal static bool TryInt64(IConfigurationSection child, ZeroCopyStaticFilesOptions options, out long value)
    {
        value = 0;
        if (child.Value is null)
        {
            return false;
        }

        if (long.TryParse(child.Value.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out value))
        {
            return true;
        }

        options.BindingErrors.Add($"{child.Path}: '{child.Value}' is not a whole number.");
        return false;
    }

    internal static bool TryEnum<TEnum>(IConfigurationSection child, ZeroCopyStaticFilesOptions options, out TEnum value)
        where TEnum : struct, Enum
    {
        value = default;
        if (child.Value is null)
        {
            return false;
        }

        var text = child.Value.Trim();
        // Names only: Enum.TryParse would also accept any number.
        if (text.Length > 0 && !char.IsAsciiDigit(text[0]) && text[0] != '-'
            && Enum.TryParse(text, ignoreCase: true, out value) && Enum.IsDefined(value))
        {
            return true;
        }

        options.BindingErrors.Add($"{child.Path}: '{child.Value}' is not one of {string.Join(", ", Enum.GetNames<TEnum>())}.");
        return false;
    }
}

using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace ZeroCopy.AspNetCore.Configuration;

/// <summary>
/// Reads the <c>ZeroCopyStaticFiles</c> section into <see cref="ZeroCopyStaticFilesOptions"/>, and its
/// <c>Transport</c> child into <see cref="ZeroCopyTransportOptions"/>.
/// </summary>
/// <remarks>
/// <para>
/// The configuration binder throws on the first value it cannot convert; this reader records every
/// such problem in <see cref="ZeroCopyStaticFilesOptions.BindingErrors"/> instead, so a bad file is
/// reported in one message and a bad reload never throws on the configuration change callback
/// (OptionsMonitor re-creates the options inside that callback).
/// </para>
/// <para>
/// Every key is the <c>nameof</c> of the property it sets (as YARP's <c>ConfigurationConfigProvider</c>
/// reads its keys), so renaming a property renames its key, and a child that no table names is
/// reported in <see cref="ZeroCopyStaticFilesOptions.UnknownKeys"/>.
/// </para>
/// <para>
/// The <c>Transport</c> child is read only into <see cref="ZeroCopyTransportOptions"/>, with problems of
/// its own (<see cref="ZeroCopyTransportOptions.BindingErrors"/>, <see cref="ZeroCopyTransportOptions.UnknownKeys"/>):
/// every way of installing the transport reads it, with or without the rest of the section.
/// </para>
/// </remarks>
internal sealed class ConfigurationSectionReader : IConfigureOptions<ZeroCopyStaticFilesOptions>, IConfigureOptions<ZeroCopyTransportOptions>
{
    /// <summary>The child of the section read into <see cref="ZeroCopyTransportOptions"/>.</summary>
    public const string TransportKey = "Transport";

    private static readonly KeyTable<ZeroCopyCacheOptions> s_cache = new KeyTable<ZeroCopyCacheOptions>()
        .Bool(nameof(ZeroCopyCacheOptions.Enabled), static (o, value) => o.Enabled = value)
        .Int64(nameof(ZeroCopyCacheOptions.MaxFileBytes), static (o, value) => o.MaxFileBytes = value)
        .Int64(nameof(ZeroCopyCacheOptions.MaxTotalBytes), static (o, value) => o.MaxTotalBytes = value)
        .Int32(nameof(ZeroCopyCacheOptions.MaxEntries), static (o, value) => o.MaxEntries = value)
        .Int32(nameof(ZeroCopyCacheOptions.MinHits), static (o, value) => o.MinHits = value)
        .TimeSpan(nameof(ZeroCopyCacheOptions.RevalidateAfter), static (o, value) => o.RevalidateAfter = value);

    // A rule's fields keep an empty string for a blank value: the validator names the rule that lacks one.
    private static readonly KeyTable<CacheControlRule> s_rule = new KeyTable<CacheControlRule>()
        .Add(nameof(CacheControlRule.Match), static (child, rule, _) => rule.Match = child.Value?.Trim() ?? string.Empty)
        .Add(nameof(CacheControlRule.CacheControl), static (child, rule, _) => rule.CacheControl = child.Value?.Trim() ?? string.Empty);

    private static readonly KeyTable<ZeroCopyETagOptions> s_etag = new KeyTable<ZeroCopyETagOptions>()
        .Enum<ETagMode>(nameof(ZeroCopyETagOptions.Mode), static (o, value) => o.Mode = value)
        .String(nameof(ZeroCopyETagOptions.Manifest), static (o, value) => o.Manifest = value);

    private static readonly KeyTable<ZeroCopyPrecompressedOptions> s_precompressed = new KeyTable<ZeroCopyPrecompressedOptions>()
        .Bool(nameof(ZeroCopyPrecompressedOptions.Enabled), static (o, value) => o.Enabled = value)
        .Strings(nameof(ZeroCopyPrecompressedOptions.Encodings), static (o, value) => o.Encodings = value);

    private static readonly KeyTable<ZeroCopyShortCircuitOptions> s_shortCircuit = new KeyTable<ZeroCopyShortCircuitOptions>()
        .Bool(nameof(ZeroCopyShortCircuitOptions.Enabled), static (o, value) => o.Enabled = value);

    private static readonly KeyTable<ZeroCopyDefaultDocumentsOptions> s_defaultDocuments = new KeyTable<ZeroCopyDefaultDocumentsOptions>()
        .Bool(nameof(ZeroCopyDefaultDocumentsOptions.Enabled), static (o, value) => o.Enabled = value)
        .Strings(nameof(ZeroCopyDefaultDocumentsOptions.FileNames), static (o, value) => o.FileNames = value);

    // Last: it names the nested tables, which nullable analysis requires to be initialized before it.
    private static readonly KeyTable<ZeroCopyStaticFilesOptions> s_section = new KeyTable<ZeroCopyStaticFilesOptions>()
        .String(nameof(ZeroCopyStaticFilesOptions.Root), static (o, value) => o.Root = value)
        .String(nameof(ZeroCopyStaticFilesOptions.RequestPath), static (o, value) => o.RequestPath = value)
        .Bool(nameof(ZeroCopyStaticFilesOptions.ServeUnknownFileTypes), static (o, value) => o.ServeUnknownFileTypes = value)
        .String(nameof(ZeroCopyStaticFilesOptions.DefaultContentType), static (o, value) => o.DefaultContentType = value)
        .Add(nameof(ZeroCopyStaticFilesOptions.ContentTypes), static (child, o, options) => ReadContentTypes(child, o.ContentTypes, options))
        .String(nameof(ZeroCopyStaticFilesOptions.CacheControl), static (o, value) => o.CacheControl = value)
        .Enum<ZeroCopyMode>(nameof(ZeroCopyStaticFilesOptions.Mode), static (o, value) => o.Mode = value)
        .Int64(nameof(ZeroCopyStaticFilesOptions.MinZeroCopyBytes), static (o, value) => o.MinZeroCopyBytes = value)
        .Add(nameof(ZeroCopyStaticFilesOptions.Cache), static (child, o, options) => s_cache.Read(child, o.Cache, options))
        .Add(nameof(ZeroCopyStaticFilesOptions.ShortCircuit), static (child, o, options) => s_shortCircuit.Read(child, o.ShortCircuit, options))
        .Int32(nameof(ZeroCopyStaticFilesOptions.MaxRanges), static (o, value) => o.MaxRanges = value)
        .Add(nameof(ZeroCopyStaticFilesOptions.CacheControlRules), static (child, o, options) => o.CacheControlRules = ReadRules(child, options))
        .Add(nameof(ZeroCopyStaticFilesOptions.ETag), static (child, o, options) => s_etag.Read(child, o.ETag, options))
        .Add(nameof(ZeroCopyStaticFilesOptions.Precompressed), static (child, o, options) => s_precompressed.Read(child, o.Precompressed, options))
        .Add(nameof(ZeroCopyStaticFilesOptions.DefaultDocuments), static (child, o, options) => s_defaultDocuments.Read(child, o.DefaultDocuments, options))
        .String(nameof(ZeroCopyStaticFilesOptions.FallbackFile), static (o, value) => o.FallbackFile = value)
        .Add(TransportKey, static (_, _, _) => { }); // Read into ZeroCopyTransportOptions (below), not here.

    // The keys of the transport that configuration may set; its other options are set in code only.
    private static readonly KeyTable<ZeroCopyTransportOptions> s_transport = new KeyTable<ZeroCopyTransportOptions>()
        .Enum<ZeroCopyTransportEngine>(nameof(ZeroCopyTransportOptions.Engine), static (o, value) => o.Engine = value)
        .OptionalInt32(nameof(ZeroCopyTransportOptions.EventLoopCount), static (o, value) => o.EventLoopCount = value);

    private readonly IConfiguration? _configuration;

    /// <param name="configuration">The application's configuration; none (a bare service collection): nothing to read.</param>
    public ConfigurationSectionReader(IConfiguration? configuration = null) => _configuration = configuration;

    public void Configure(ZeroCopyStaticFilesOptions options)
    {
        if (_configuration is not null)
        {
            Read(_configuration.GetSection(ZeroCopyStaticFilesOptions.SectionName), options);
        }
    }

    public void Configure(ZeroCopyTransportOptions options)
    {
        if (_configuration is not null)
        {
            ReadTransport(_configuration.GetSection(ConfigurationPath.Combine(ZeroCopyStaticFilesOptions.SectionName, TransportKey)), options);
        }
    }

    internal static void Read(IConfigurationSection section, ZeroCopyStaticFilesOptions options)
        => s_section.Read(section, options, new Problems(options.BindingErrors, options.UnknownKeys));

    internal static void ReadTransport(IConfigurationSection section, ZeroCopyTransportOptions options)
        => s_transport.Read(section, options, new Problems(options.BindingErrors, options.UnknownKeys));

    private static void ReadContentTypes(IConfigurationSection section, IDictionary<string, string> contentTypes, Problems options)
    {
        foreach (var mapping in section.GetChildren())
        {
            if (string.IsNullOrWhiteSpace(mapping.Value))
            {
                options.BindingErrors.Add($"{mapping.Path}: a content type is required.");
            }
            else
            {
                contentTypes[mapping.Key] = mapping.Value.Trim();
            }
        }
    }

    private static List<CacheControlRule> ReadRules(IConfigurationSection section, Problems options)
    {
        var rules = new List<CacheControlRule>();
        foreach (var item in section.GetChildren())
        {
            var rule = new CacheControlRule();
            s_rule.Read(item, rule, options);
            rules.Add(rule);
        }

        return rules;
    }

    /// <summary>A configuration array (children 0, 1, ...) or a comma-separated value.</summary>
    private static List<string> ReadStrings(IConfigurationSection section)
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

    /// <summary>The trimmed value; <see langword="null"/> when absent or blank.</summary>
    private static string? ReadString(IConfigurationSection child)
        => string.IsNullOrWhiteSpace(child.Value) ? null : child.Value.Trim();

    private static bool? ReadBool(IConfigurationSection child, Problems options)
    {
        if (child.Value is null)
        {
            return null;
        }

        if (bool.TryParse(child.Value.Trim(), out var value))
        {
            return value;
        }

        options.BindingErrors.Add($"{child.Path}: '{child.Value}' is not true or false.");
        return null;
    }

    private static long? ReadInt64(IConfigurationSection child, Problems options)
    {
        if (child.Value is null)
        {
            return null;
        }

        if (long.TryParse(child.Value.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        options.BindingErrors.Add($"{child.Path}: '{child.Value}' is not a whole number.");
        return null;
    }

    /// <summary>A whole number that fits an <see cref="int"/>: parsed as <see cref="long"/> so a large one is reported as too large rather than as not a number.</summary>
    private static int? ReadInt32(IConfigurationSection child, Problems options)
    {
        if (ReadInt64(child, options) is not { } value)
        {
            return null;
        }

        if (value is >= int.MinValue and <= int.MaxValue)
        {
            return (int)value;
        }

        options.BindingErrors.Add($"{child.Path}: {value} is too large.");
        return null;
    }

    /// <summary>A TimeSpan in invariant format ("00:00:01") or a number of seconds ("1.5").</summary>
    private static TimeSpan? ReadTimeSpan(IConfigurationSection child, Problems options)
    {
        if (child.Value is null)
        {
            return null;
        }

        var text = child.Value.Trim();
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && double.IsFinite(seconds))
        {
            return TimeSpan.FromSeconds(seconds);
        }

        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        options.BindingErrors.Add($"{child.Path}: '{child.Value}' is not a time span (\"00:00:01\") or a number of seconds.");
        return null;
    }

    private static TEnum? ReadEnum<TEnum>(IConfigurationSection child, Problems options)
        where TEnum : struct, Enum
    {
        if (child.Value is null)
        {
            return null;
        }

        var text = child.Value.Trim();
        // Names only: Enum.TryParse would also accept any number.
        if (text.Length > 0 && !char.IsAsciiDigit(text[0]) && text[0] != '-'
            && Enum.TryParse(text, ignoreCase: true, out TEnum value) && Enum.IsDefined(value))
        {
            return value;
        }

        options.BindingErrors.Add($"{child.Path}: '{child.Value}' is not one of {string.Join(", ", Enum.GetNames<TEnum>())}.");
        return null;
    }

    /// <summary>Where the problems of one read go: values that do not parse, keys that no table names.</summary>
    private readonly record struct Problems(List<string> BindingErrors, List<string> UnknownKeys);

    /// <summary>Reads one key's value into <paramref name="target"/>; problems go to <paramref name="options"/>.</summary>
    private delegate void KeyReader<in TTarget>(IConfigurationSection child, TTarget target, Problems options);

    /// <summary>
    /// The keys of one section, each with the reader of its property. The typed methods set the
    /// property only when the key has a value that parses; a value that does not parse is a binding
    /// error and leaves the property as it was.
    /// </summary>
    private sealed class KeyTable<TTarget>
    {
        private readonly Dictionary<string, KeyReader<TTarget>> _readers = new(StringComparer.Ordinal);

        public KeyTable<TTarget> Add(string key, KeyReader<TTarget> reader)
        {
            _readers.Add(Normalize(key), reader);
            return this;
        }

        /// <summary>A blank value sets <see langword="null"/>.</summary>
        public KeyTable<TTarget> String(string key, Action<TTarget, string?> set)
            => Add(key, (child, target, _) => set(target, ReadString(child)));

        /// <summary>An array or a comma-separated value; always sets the list, empty when the key has neither.</summary>
        public KeyTable<TTarget> Strings(string key, Action<TTarget, List<string>> set)
            => Add(key, (child, target, _) => set(target, ReadStrings(child)));

        public KeyTable<TTarget> Bool(string key, Action<TTarget, bool> set)
            => Add(key, (child, target, options) =>
            {
                if (ReadBool(child, options) is { } value)
                {
                    set(target, value);
                }
            });

        public KeyTable<TTarget> Int32(string key, Action<TTarget, int> set)
            => Add(key, (child, target, options) =>
            {
                if (ReadInt32(child, options) is { } value)
                {
                    set(target, value);
                }
            });

        /// <summary>A nullable whole number: a blank value (<c>KEY=</c> in the environment) sets <see langword="null"/>.</summary>
        public KeyTable<TTarget> OptionalInt32(string key, Action<TTarget, int?> set)
            => Add(key, (child, target, options) =>
            {
                if (child.Value is { } text && string.IsNullOrWhiteSpace(text))
                {
                    set(target, null);
                }
                else if (ReadInt32(child, options) is { } value)
                {
                    set(target, value);
                }
            });

        public KeyTable<TTarget> Int64(string key, Action<TTarget, long> set)
            => Add(key, (child, target, options) =>
            {
                if (ReadInt64(child, options) is { } value)
                {
                    set(target, value);
                }
            });

        public KeyTable<TTarget> TimeSpan(string key, Action<TTarget, TimeSpan> set)
            => Add(key, (child, target, options) =>
            {
                if (ReadTimeSpan(child, options) is { } value)
                {
                    set(target, value);
                }
            });

        public KeyTable<TTarget> Enum<TEnum>(string key, Action<TTarget, TEnum> set)
            where TEnum : struct, System.Enum
            => Add(key, (child, target, options) =>
            {
                if (ReadEnum<TEnum>(child, options) is { } value)
                {
                    set(target, value);
                }
            });

        /// <summary>Reads every child of <paramref name="section"/>, in the configuration's order; a child no reader names is an unknown key.</summary>
        public void Read(IConfigurationSection section, TTarget target, Problems options)
        {
            foreach (var child in section.GetChildren())
            {
                if (_readers.TryGetValue(Normalize(child.Key), out var reader))
                {
                    reader(child, target, options);
                }
                else
                {
                    options.UnknownKeys.Add(child.Path);
                }
            }
        }

        // Keys match as they always have: compared upper-cased with the invariant culture.
        private static string Normalize(string key) => key.ToUpperInvariant();
    }
}

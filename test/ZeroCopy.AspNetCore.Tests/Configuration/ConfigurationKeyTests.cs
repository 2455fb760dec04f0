using System.Collections;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using ZeroCopy.AspNetCore.Configuration;
using ZeroCopy.AspNetCore.Tests.Infrastructure;

namespace ZeroCopy.AspNetCore.Tests.Configuration;

/// <summary>
/// The configuration keys are the names of the option properties: every public settable property
/// reachable from <see cref="ZeroCopyStaticFilesOptions"/> is found by reflection here, given a
/// value different from its default under the key of its name, and must come back from the reader.
/// </summary>
public sealed class ConfigurationKeyTests
{
    /// <summary>Public options classes that this walk does not reach from the section.</summary>
    private static readonly Type[] s_codeOnly =
    [
        // UseZeroCopyTransport(configure); Kestrel's socket options carry the rest. Its Engine and
        // EventLoopCount are read from ZeroCopyStaticFiles:Transport (TransportConfigurationTests).
        typeof(ZeroCopyTransportOptions),
    ];

    [Fact]
    public void Every_settable_property_of_the_options_types_is_read_from_the_key_of_its_name()
    {
        var settings = new Dictionary<string, string?>();
        var expectations = new List<Expectation>();
        Collect(typeof(ZeroCopyStaticFilesOptions), ZeroCopyStaticFilesOptions.SectionName, static o => o, settings, expectations, []);
        var section = new ConfigurationBuilder().AddInMemoryCollection(settings).Build().GetSection(ZeroCopyStaticFilesOptions.SectionName);

        var options = new ZeroCopyStaticFilesOptions();
        ConfigurationSectionReader.Read(section, options);

        Assert.Empty(options.UnknownKeys);
        Assert.Empty(options.BindingErrors);
        Assert.All(expectations, e => Assert.True(
            Describe(e.Expected) == Describe(e.Get(options)),
            $"{e.Key}: expected {Describe(e.Expected)}, read {Describe(e.Get(options))}"));
        // A guard on the walk itself: it found the nested sections and the array of rules.
        Assert.Contains(expectations, e => e.Key == "ZeroCopyStaticFiles:Cache:RevalidateAfter");
        Assert.Contains(expectations, e => e.Key == "ZeroCopyStaticFiles:CacheControlRules:0:Match");
    }

    [Fact]
    public void Every_public_options_class_is_read_from_the_section_or_listed_as_code_only()
    {
        var reached = new HashSet<Type>();
        Collect(typeof(ZeroCopyStaticFilesOptions), ZeroCopyStaticFilesOptions.SectionName, static o => o, [], [], reached);

        var optionsClasses = typeof(ZeroCopyStaticFilesOptions).Assembly.GetExportedTypes()
            .Where(t => t.IsClass && t.Name.EndsWith("Options", StringComparison.Ordinal));

        Assert.All(optionsClasses, t => Assert.True(reached.Contains(t) || s_codeOnly.Contains(t), $"{t.Name} is neither read from the section nor listed as code-only."));
    }

    [Fact]
    public void Keys_match_in_any_case_and_unknown_keys_are_reported_at_every_depth()
    {
        var options = Read(new()
        {
            ["zerocopystaticfiles:CACHE:minhits"] = "5",
            ["ZeroCopyStaticFiles:etag:mode"] = "contenthash",
            ["ZeroCopyStaticFiles:CACHE:MinHit"] = "1",
            ["ZeroCopyStaticFiles:CacheControlRules:0:Glob"] = "*.js",
            ["ZeroCopyStaticFiles:Precompressed:Encoding"] = "br",
        });

        Assert.Equal(5, options.Cache.MinHits);
        Assert.Equal(ETagMode.ContentHash, options.ETag.Mode);
        string[] unknown = ["ZeroCopyStaticFiles:CACHE:MinHit", "ZeroCopyStaticFiles:CacheControlRules:0:Glob", "ZeroCopyStaticFiles:Precompressed:Encoding"];
        Assert.Equal(unknown, options.UnknownKeys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Binding_errors_name_the_key_as_written()
    {
        var options = Read(new()
        {
            ["ZeroCopyStaticFiles:cache:MaxEntries"] = "99999999999",
            ["ZeroCopyStaticFiles:cache:RevalidateAfter"] = "soon",
            ["ZeroCopyStaticFiles:ETag:Mode"] = "1",
            ["ZeroCopyStaticFiles:ContentTypes:.x"] = " ",
        });

        // In ordinal order: upper case sorts before lower case.
        string[] expected =
        [
            "ZeroCopyStaticFiles:ContentTypes:.x: a content type is required.",
            "ZeroCopyStaticFiles:ETag:Mode: '1' is not one of Stock, ContentHash.",
            "ZeroCopyStaticFiles:cache:MaxEntries: 99999999999 is too large.",
            "ZeroCopyStaticFiles:cache:RevalidateAfter: 'soon' is not a time span (\"00:00:01\") or a number of seconds.",
        ];
        Assert.Equal(expected, options.BindingErrors.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Validation_errors_name_the_key_of_each_nested_setting()
    {
        using var root = new TempDirectory("zc-config-keys");
        var options = new ZeroCopyStaticFilesOptions
        {
            MaxRanges = 0,
            Cache = { MaxFileBytes = 10, MaxTotalBytes = 5, MaxEntries = 0, MinHits = 0, RevalidateAfter = TimeSpan.FromSeconds(-1) },
            CacheControlRules = [new CacheControlRule { Match = "", CacheControl = "max-age=abc=" }],
            ETag = { Mode = (ETagMode)7, Manifest = "missing.json" },
            Precompressed = { Encodings = ["br", "br", "lzma"] },
            DefaultDocuments = { FileNames = ["a/b"] },
            FallbackFile = "../x",
        };

        var errors = ZeroCopyOptionsValidator.Validate(options, root.Path);

        string[] expected =
        [
            "ZeroCopyStaticFiles:Cache:MaxFileBytes: 10 must not exceed Cache:MaxTotalBytes (5).",
            "ZeroCopyStaticFiles:Cache:MaxEntries: 0 must be 1 or more.",
            "ZeroCopyStaticFiles:Cache:MinHits: 0 must be 1 or more.",
            "ZeroCopyStaticFiles:Cache:RevalidateAfter: -00:00:01 must not be negative.",
            "ZeroCopyStaticFiles:MaxRanges: 0 must be between 1 and 1000.",
            "ZeroCopyStaticFiles:CacheControlRules:0:Match: a glob or an extension is required.",
            "ZeroCopyStaticFiles:CacheControlRules:0:CacheControl: 'max-age=abc=' is not a valid Cache-Control value.",
            "ZeroCopyStaticFiles:ETag:Mode: 7 is not one of Stock, ContentHash.",
            $"ZeroCopyStaticFiles:ETag:Manifest: the file '{Path.GetFullPath(Path.Combine(root.Path, "missing.json"))}' does not exist.",
            "ZeroCopyStaticFiles:Precompressed:Encodings: 'br' is listed twice.",
            "ZeroCopyStaticFiles:Precompressed:Encodings: 'lzma' is not one of br, gzip, zstd.",
            "ZeroCopyStaticFiles:DefaultDocuments:FileNames: 'a/b' is not a file name.",
            "ZeroCopyStaticFiles:FallbackFile: '../x' must be a path inside the root.",
        ];
        Assert.Equal(expected, errors);
    }

    private static ZeroCopyStaticFilesOptions Read(Dictionary<string, string?> settings)
    {
        var options = new ZeroCopyStaticFilesOptions();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        ConfigurationSectionReader.Read(configuration.GetSection(ZeroCopyStaticFilesOptions.SectionName), options);
        return options;
    }

    private sealed record Expectation(string Key, Func<ZeroCopyStaticFilesOptions, object?> Get, object Expected);

    /// <summary>
    /// Walks the public settable properties of <paramref name="type"/> (found at <paramref name="get"/>
    /// under <paramref name="prefix"/>): a value property gets a setting and an expectation, an options
    /// class or a list of them is walked under its own key.
    /// </summary>
    private static void Collect(
        Type type,
        string prefix,
        Func<ZeroCopyStaticFilesOptions, object?> get,
        Dictionary<string, string?> settings,
        List<Expectation> expectations,
        HashSet<Type> reached)
    {
        reached.Add(type);
        var defaults = Activator.CreateInstance(type);
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod?.IsPublic == true))
        {
            var key = ConfigurationPath.Combine(prefix, property.Name);
            object? Get(ZeroCopyStaticFilesOptions o) => property.GetValue(get(o)!);
            var propertyType = property.PropertyType;
            var element = ListElement(propertyType);

            if (IsOptionsClass(propertyType))
            {
                Collect(propertyType, key, Get, settings, expectations, reached);
            }
            else if (element is not null && IsOptionsClass(element))
            {
                Collect(element, ConfigurationPath.Combine(key, "0"), o => ((IList)Get(o)!)[0], settings, expectations, reached);
            }
            else
            {
                var (text, expected) = Sample(property, property.GetValue(defaults));
                foreach (var (suffix, value) in text)
                {
                    settings[suffix.Length == 0 ? key : ConfigurationPath.Combine(key, suffix)] = value;
                }

                Assert.NotEqual(Describe(property.GetValue(defaults)), Describe(expected));
                expectations.Add(new Expectation(key, Get, expected));
            }
        }
    }

    /// <summary>Configuration text (by key suffix) for a value different from the default, and that value.</summary>
    private static ((string Suffix, string Value)[] Text, object Value) Sample(PropertyInfo property, object? defaultValue)
    {
        var type = property.PropertyType;
        var name = property.Name;
        var nullable = Nullable.GetUnderlyingType(type);
        if (type == typeof(string))
        {
            return ([("", $"{name}-value")], $"{name}-value");
        }

        if (type == typeof(bool) || nullable == typeof(bool))
        {
            var value = defaultValue is not true;
            return ([("", value ? "true" : "false")], value);
        }

        if (type == typeof(int))
        {
            var value = (int)defaultValue! + 1;
            return ([("", value.ToString(CultureInfo.InvariantCulture))], value);
        }

        if (type == typeof(long))
        {
            var value = (long)defaultValue! + 1;
            return ([("", value.ToString(CultureInfo.InvariantCulture))], value);
        }

        if (type == typeof(TimeSpan))
        {
            var value = (TimeSpan)defaultValue! + TimeSpan.FromSeconds(1);
            return ([("", value.ToString("c", CultureInfo.InvariantCulture))], value);
        }

        if (type.IsEnum)
        {
            var value = Enum.GetValues(type).Cast<object>().Last(v => !v.Equals(defaultValue));
            return ([("", value.ToString()!)], value);
        }

        if (type == typeof(IDictionary<string, string>))
        {
            return ([(".ext", $"application/x-{name}")], new Dictionary<string, string> { [".ext"] = $"application/x-{name}" });
        }

        if (ListElement(type) == typeof(string))
        {
            return ([("0", $"{name}-a"), ("1", $"{name}-b")], new[] { $"{name}-a", $"{name}-b" });
        }

        throw new InvalidOperationException($"{property.DeclaringType!.Name}.{name}: no sample for {type}; teach this test the new property type.");
    }

    private static bool IsOptionsClass(Type type)
        => type.IsClass && type != typeof(string) && type.Namespace == typeof(ZeroCopyStaticFilesOptions).Namespace
            && type.GetConstructor(Type.EmptyTypes) is not null;

    private static Type? ListElement(Type type)
        => type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IList<>) ? type.GetGenericArguments()[0] : null;

    /// <summary>A comparable text of a value: sequences and dictionaries by their items.</summary>
    private static string Describe(object? value) => value switch
    {
        null => "null",
        string s => $"\"{s}\"",
        IDictionary<string, string> d => "{" + string.Join(", ", d.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}")) + "}",
        IEnumerable e => "[" + string.Join(", ", e.Cast<object?>().Select(Describe)) + "]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}

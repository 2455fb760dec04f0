using System.Reflection;
using ZeroCopy.AspNetCore.Configuration;

namespace ZeroCopy.AspNetCore.Tests.Configuration;

public sealed class SettingsComparerTests
{
    /// <summary>Every settable public property of the options and of their sections, with its configuration key.</summary>
    public static TheoryData<string> Keys()
    {
        var data = new TheoryData<string>();
        foreach (var (key, _) in Properties())
        {
            data.Add(key);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Keys))]
    public void A_change_of_any_setting_is_seen_and_named(string key)
    {
        var current = new ZeroCopyStaticFilesOptions();
        var next = new ZeroCopyStaticFilesOptions();
        var (_, change) = Properties().Single(p => p.Key == key);
        change(next);

        var (kind, keys) = SettingsComparer.Compare(current, next);

        Assert.Equal([key], keys);
        var limit = key.StartsWith("Cache:", StringComparison.Ordinal) && key != "Cache:Enabled";
        Assert.Equal(limit ? SettingsChange.CacheLimits : SettingsChange.Responses, kind);
    }

    [Fact]
    public void Equal_values_in_new_objects_are_no_change()
    {
        static ZeroCopyStaticFilesOptions Make() => new()
        {
            Root = "files",
            ContentTypes = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { [".x"] = "text/x" },
            CacheControlRules = [new CacheControlRule { Match = ".js", CacheControl = "max-age=1" }],
            Cache = new ZeroCopyCacheOptions { MaxEntries = 5 },
        };

        var (kind, keys) = SettingsComparer.Compare(Make(), Make());

        Assert.Equal(SettingsChange.None, kind);
        Assert.Empty(keys);
    }

    [Fact]
    public void Limits_and_a_response_setting_together_are_a_response_change_naming_both()
    {
        var next = new ZeroCopyStaticFilesOptions { CacheControl = "no-cache", Cache = new ZeroCopyCacheOptions { MaxEntries = 5 } };

        var (kind, keys) = SettingsComparer.Compare(new ZeroCopyStaticFilesOptions(), next);

        Assert.Equal(SettingsChange.Responses, kind);
        Assert.Equal(["CacheControl", "Cache:MaxEntries"], keys);
    }

    /// <summary>
    /// Walks the public options types by reflection (so a property added later is covered without
    /// editing this test) and gives, per key, a change of that property alone.
    /// </summary>
    private static List<(string Key, Action<ZeroCopyStaticFilesOptions> Change)> Properties()
    {
        var result = new List<(string, Action<ZeroCopyStaticFilesOptions>)>();
        foreach (var property in typeof(ZeroCopyStaticFilesOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var type = property.PropertyType;
            if (type.IsClass && type.Namespace == typeof(ZeroCopyStaticFilesOptions).Namespace)
            {
                // A section (Cache, ETag, ...): each of its properties.
                foreach (var inner in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
                {
                    var section = property;
                    result.Add(($"{section.Name}:{inner.Name}", o => Change(section.GetValue(o)!, inner)));
                }
            }
            else if (property.CanWrite)
            {
                result.Add((property.Name, o => Change(o, property)));
            }
        }

        return result;
    }

    private static void Change(object target, PropertyInfo property)
    {
        var type = property.PropertyType;
        var value = property.GetValue(target);
        object? changed = type switch
        {
            _ when type == typeof(string) => value + "/changed",
            _ when type == typeof(bool) => !(bool)value!,
            _ when type == typeof(bool?) => !((bool?)value ?? false),
            _ when type == typeof(int) => (int)value! + 1,
            _ when type == typeof(long) => (long)value! + 1,
            _ when type == typeof(TimeSpan) => (TimeSpan)value! + TimeSpan.FromSeconds(1),
            _ when type.IsEnum => Enum.GetValues(type).Cast<object>().First(v => !v.Equals(value)),
            _ when type == typeof(IDictionary<string, string>) => new Dictionary<string, string>((IDictionary<string, string>)value!) { [".changed"] = "text/changed" },
            _ when type == typeof(IList<string>) => new List<string>((IList<string>)value!) { "changed" },
            _ when type == typeof(IList<CacheControlRule>) => new List<CacheControlRule>((IList<CacheControlRule>)value!) { new() { Match = ".x", CacheControl = "no-cache" } },
            _ => throw new InvalidOperationException($"{property.DeclaringType!.Name}.{property.Name}: no change defined for {type}; add one here."),
        };
        property.SetValue(target, changed);
    }
}

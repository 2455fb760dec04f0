using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using ZeroCopy.AspNetCore.Configuration;
using ZeroCopy.AspNetCore.Tests.Transport.Conformance;

namespace ZeroCopy.AspNetCore.Tests.Configuration;

/// <summary>
/// <c>ZeroCopyStaticFiles:Transport:Engine</c> and <c>:EventLoopCount</c>: read into
/// <see cref="ZeroCopyTransportOptions"/> by every way of installing the transport, in their
/// environment-variable form too; code wins over them whatever the order of the calls; an invalid
/// value stops the start with its key; they are read once.
/// </summary>
public sealed class TransportConfigurationTests : IDisposable
{
    private const string EngineKey = "ZeroCopyStaticFiles:Transport:Engine";
    private const string LoopsKey = "ZeroCopyStaticFiles:Transport:EventLoopCount";

    /// <summary>Transport options set in code only: no configuration key reads them.</summary>
    private static readonly string[] s_codeOnly =
    [
        nameof(ZeroCopyTransportOptions.MaxQueuedRegions),
        nameof(ZeroCopyTransportOptions.SplicePipeSize),
    ];

    private readonly TempDirectory _contentRoot = new("zc-transport-config");

    public static TheoryData<ZeroCopyRegistration> Registrations => [.. Enum.GetValues<ZeroCopyRegistration>()];

    public void Dispose() => _contentRoot.Dispose();

    [Theory]
    [MemberData(nameof(Registrations))]
    public void Without_the_keys_the_options_keep_their_defaults(ZeroCopyRegistration registration)
    {
        using var app = Build(registration, new());

        var options = Options(app);

        Assert.Equal(ZeroCopyTransportEngine.Sockets, options.Engine);
        Assert.Null(options.EventLoopCount);
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void The_keys_select_the_engine_and_the_loop_count_on_every_registration_path(ZeroCopyRegistration registration)
    {
        using var app = Build(registration, new() { [EngineKey] = "EventLoop", [LoopsKey] = "3" });

        var options = Options(app);

        Assert.Equal(ZeroCopyTransportEngine.EventLoop, options.Engine);
        Assert.Equal(3, options.EventLoopCount);
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void The_environment_variable_form_selects_the_engine_and_switches_back_over_a_settings_file(ZeroCopyRegistration registration)
    {
        // A prefix of this test's own: the variables reach no other host of the test process.
        var prefix = $"ZCTEST_{Guid.NewGuid():N}_";
        Environment.SetEnvironmentVariable(prefix + "ZeroCopyStaticFiles__Transport__Engine", "eventloop");
        Environment.SetEnvironmentVariable(prefix + "ZeroCopyStaticFiles__Transport__EventLoopCount", "2");
        try
        {
            using (var app = Build(registration, new(), configuration => configuration.AddEnvironmentVariables(prefix)))
            {
                Assert.Equal((ZeroCopyTransportEngine.EventLoop, (int?)2), (Options(app).Engine, Options(app).EventLoopCount));
            }

            // As in issue 15: the settings file names EventLoop, the environment switches back to Sockets
            // and to the default loop count (a blank value), without a rebuild.
            Environment.SetEnvironmentVariable(prefix + "ZeroCopyStaticFiles__Transport__Engine", "Sockets");
            Environment.SetEnvironmentVariable(prefix + "ZeroCopyStaticFiles__Transport__EventLoopCount", " ");
            using (var app = Build(registration, new() { [EngineKey] = "EventLoop", [LoopsKey] = "4" }, configuration => configuration.AddEnvironmentVariables(prefix)))
            {
                Assert.Equal((ZeroCopyTransportEngine.Sockets, (int?)null), (Options(app).Engine, Options(app).EventLoopCount));
            }
        }
        finally
        {
            Environment.SetEnvironmentVariable(prefix + "ZeroCopyStaticFiles__Transport__Engine", null);
            Environment.SetEnvironmentVariable(prefix + "ZeroCopyStaticFiles__Transport__EventLoopCount", null);
        }
    }

    /// <summary>Where the code that sets the options stands relative to the registration call.</summary>
    public enum CodePlace
    {
        /// <summary><c>services.Configure&lt;ZeroCopyTransportOptions&gt;</c> before the registration call.</summary>
        ConfigureBefore,

        /// <summary><c>services.Configure&lt;ZeroCopyTransportOptions&gt;</c> after the registration call.</summary>
        ConfigureAfter,

        /// <summary>The delegate given to <c>UseZeroCopyTransport(o => ...)</c>.</summary>
        UseZeroCopyTransportDelegate,
    }

    public static TheoryData<ZeroCopyRegistration, CodePlace> CodePlaces()
    {
        var data = new TheoryData<ZeroCopyRegistration, CodePlace>();
        foreach (var registration in Enum.GetValues<ZeroCopyRegistration>())
        {
            data.Add(registration, CodePlace.ConfigureBefore);
            data.Add(registration, CodePlace.ConfigureAfter);
        }

        data.Add(ZeroCopyRegistration.UseZeroCopyTransport, CodePlace.UseZeroCopyTransportDelegate);
        return data;
    }

    [Theory]
    [MemberData(nameof(CodePlaces))]
    public void Code_wins_over_the_keys_whatever_the_order_of_the_calls(ZeroCopyRegistration registration, CodePlace place)
    {
        Action<ZeroCopyTransportOptions> code = static o => (o.Engine, o.EventLoopCount) = (ZeroCopyTransportEngine.Sockets, 2);
        using var app = Build(
            registration,
            new() { [EngineKey] = "EventLoop", [LoopsKey] = "3" },
            code: place == CodePlace.UseZeroCopyTransportDelegate ? code : null,
            servicesBefore: place == CodePlace.ConfigureBefore ? s => s.Configure(code) : null,
            servicesAfter: place == CodePlace.ConfigureAfter ? s => s.Configure(code) : null);

        var options = Options(app);

        Assert.Equal(ZeroCopyTransportEngine.Sockets, options.Engine);
        Assert.Equal(2, options.EventLoopCount);
    }

    [Fact]
    public void Code_that_sets_one_option_leaves_the_other_to_the_configuration()
    {
        using var app = Build(
            ZeroCopyRegistration.AddZeroCopyStaticFiles,
            new() { [EngineKey] = "EventLoop", [LoopsKey] = "3" },
            servicesBefore: s => s.Configure<ZeroCopyTransportOptions>(o => o.EventLoopCount = 1));

        var options = Options(app);

        Assert.Equal(ZeroCopyTransportEngine.EventLoop, options.Engine);
        Assert.Equal(1, options.EventLoopCount);
    }

    [Fact]
    public void Installing_the_transport_several_ways_reads_the_keys_once()
    {
        var builder = Builder(new() { [LoopsKey] = "many" });
        builder.Services.AddZeroCopyTransport();
        builder.WebHost.UseZeroCopyTransport();
        builder.Services.AddZeroCopyStaticFiles();
        builder.Services.AddZeroCopyTransport();

        Assert.Single(builder.Services, d => d.ServiceType == typeof(IConfigureOptions<ZeroCopyTransportOptions>) && d.ImplementationType == typeof(ConfigurationSectionReader));
        // Read twice, the value would be reported twice.
        var failure = Assert.Throws<OptionsValidationException>(() => builder.Build());
        Assert.Equal(["ZeroCopyStaticFiles:Transport:EventLoopCount: 'many' is not a whole number."], failure.Failures);
    }

    public static TheoryData<ZeroCopyRegistration, string, string, string> InvalidValues()
    {
        var data = new TheoryData<ZeroCopyRegistration, string, string, string>();
        foreach (var registration in Enum.GetValues<ZeroCopyRegistration>())
        {
            data.Add(registration, EngineKey, "Turbo", "ZeroCopyStaticFiles:Transport:Engine: 'Turbo' is not one of Sockets, EventLoop.");
            data.Add(registration, EngineKey, "1", "ZeroCopyStaticFiles:Transport:Engine: '1' is not one of Sockets, EventLoop.");
            data.Add(registration, LoopsKey, "0", "ZeroCopyStaticFiles:Transport:EventLoopCount: 0 must be 1 or more.");
            data.Add(registration, LoopsKey, "-2", "ZeroCopyStaticFiles:Transport:EventLoopCount: -2 must be 1 or more.");
            data.Add(registration, LoopsKey, "many", "ZeroCopyStaticFiles:Transport:EventLoopCount: 'many' is not a whole number.");
            data.Add(registration, LoopsKey, "99999999999", "ZeroCopyStaticFiles:Transport:EventLoopCount: 99999999999 is too large.");
        }

        return data;
    }

    /// <summary>
    /// The start fails, with the key, when Kestrel creates the transport, which reads the options: for
    /// a <c>WebApplication</c> in <c>builder.Build()</c> (which resolves the server), before anything listens.
    /// </summary>
    [Theory]
    [MemberData(nameof(InvalidValues))]
    public async Task An_invalid_value_fails_the_start_with_its_key(ZeroCopyRegistration registration, string key, string value, string expected)
    {
        var failure = await Assert.ThrowsAsync<OptionsValidationException>(() => StartAsync(registration, new() { [key] = value }));

        Assert.Equal([expected], failure.Failures);
        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_values_set_in_code_fail_with_their_keys()
    {
        var failure = Assert.Throws<OptionsValidationException>(() => Build(
            ZeroCopyRegistration.AddZeroCopyTransport,
            new(),
            servicesAfter: s => s.Configure<ZeroCopyTransportOptions>(o => (o.Engine, o.EventLoopCount) = ((ZeroCopyTransportEngine)7, 0))));

        string[] expected =
        [
            "ZeroCopyStaticFiles:Transport:Engine: 7 is not one of Sockets, EventLoop.",
            "ZeroCopyStaticFiles:Transport:EventLoopCount: 0 must be 1 or more.",
        ];
        Assert.Equal(expected, failure.Failures);
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public async Task An_unknown_transport_key_is_warned_about_once_and_the_Transport_child_is_not_unknown(ZeroCopyRegistration registration)
    {
        await using var host = await StartAsync(registration, new() { ["ZeroCopyStaticFiles:Transport:Engin"] = "EventLoop" });

        var warnings = host.Logs.ForEvent("UnknownConfigurationKey").Select(r => r.Message).ToList();
        Assert.Equal(["Unknown configuration key 'ZeroCopyStaticFiles:Transport:Engin' ignored"], warnings);
        Assert.Equal(ZeroCopyTransportEngine.Sockets, Options(host.App).Engine);
    }

    [Fact]
    public async Task The_keys_are_read_once_a_reload_changes_neither_the_engine_nor_the_sites()
    {
        await using var host = await StartAsync(ZeroCopyRegistration.AddZeroCopyStaticFiles, new() { [EngineKey] = "Sockets" });
        var settings = host.Services.GetRequiredService<ZeroCopySettings>();
        var current = settings.Current;
        var evaluations = settings.Evaluations;

        host.App.Configuration[EngineKey] = "EventLoop";
        host.App.Configuration[LoopsKey] = "2";
        ((IConfigurationRoot)host.App.Configuration).Reload();

        Assert.True(await Poll.UntilAsync(() => settings.Evaluations > evaluations, TimeSpan.FromSeconds(10)), "the reload was not evaluated");
        Assert.Equal((ZeroCopyTransportEngine.Sockets, (int?)null), (Options(host.App).Engine, Options(host.App).EventLoopCount));
        Assert.Same(current, settings.Current);
        Assert.Empty(host.Logs.ForEvent("ConfigurationReloaded"));
    }

    [Fact]
    public void Every_public_transport_option_is_read_from_the_key_of_its_name_or_listed_as_code_only()
    {
        var settings = new Dictionary<string, string?>();
        var expected = new Dictionary<string, object>();
        var defaults = new ZeroCopyTransportOptions();
        foreach (var property in typeof(ZeroCopyTransportOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod?.IsPublic == true))
        {
            var (text, value) = Sample(property, property.GetValue(defaults));
            settings[ConfigurationPath.Combine(ZeroCopyStaticFilesOptions.SectionName, ConfigurationSectionReader.TransportKey, property.Name)] = text;
            expected[property.Name] = value;
        }

        var options = new ZeroCopyTransportOptions();
        var section = new ConfigurationBuilder().AddInMemoryCollection(settings).Build().GetSection("ZeroCopyStaticFiles:Transport");
        ConfigurationSectionReader.ReadTransport(section, options);

        Assert.Empty(options.BindingErrors);
        Assert.Equal(s_codeOnly.Select(name => "ZeroCopyStaticFiles:Transport:" + name).Order(StringComparer.Ordinal), options.UnknownKeys.Order(StringComparer.Ordinal));
        foreach (var (name, value) in expected.Where(e => !s_codeOnly.Contains(e.Key)))
        {
            Assert.Equal(value, typeof(ZeroCopyTransportOptions).GetProperty(name)!.GetValue(options));
        }

        Assert.Contains(nameof(ZeroCopyTransportOptions.Engine), expected.Keys);
        Assert.Contains(nameof(ZeroCopyTransportOptions.EventLoopCount), expected.Keys);
    }

    /// <summary>Configuration text for a value different from the default, and that value.</summary>
    private static (string Text, object Value) Sample(PropertyInfo property, object? defaultValue)
    {
        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        if (type.IsEnum)
        {
            var value = Enum.GetValues(type).Cast<object>().Last(v => !v.Equals(defaultValue));
            return (value.ToString()!, value);
        }

        if (type == typeof(int))
        {
            var value = (defaultValue is int i ? i : 0) + 5;
            return (value.ToString(CultureInfo.InvariantCulture), value);
        }

        throw new InvalidOperationException($"{property.Name}: no sample for {property.PropertyType}; teach this test the new property type.");
    }

    /// <summary>A builder whose configuration is only <paramref name="settings"/> (then <paramref name="more"/>): the process environment cannot leak in.</summary>
    private static WebApplicationBuilder Builder(Dictionary<string, string?> settings, Action<IConfigurationBuilder>? more = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(settings);
        more?.Invoke(builder.Configuration);
        return builder;
    }

    private static WebApplication Build(
        ZeroCopyRegistration registration,
        Dictionary<string, string?> settings,
        Action<IConfigurationBuilder>? more = null,
        Action<ZeroCopyTransportOptions>? code = null,
        Action<IServiceCollection>? servicesBefore = null,
        Action<IServiceCollection>? servicesAfter = null)
    {
        var builder = Builder(settings, more);
        servicesBefore?.Invoke(builder.Services);
        Install(builder, registration, code);
        servicesAfter?.Invoke(builder.Services);
        return builder.Build();
    }

    private static void Install(WebApplicationBuilder builder, ZeroCopyRegistration registration, Action<ZeroCopyTransportOptions>? code = null)
    {
        switch (registration)
        {
            case ZeroCopyRegistration.AddZeroCopyStaticFiles:
                builder.Services.AddZeroCopyStaticFiles();
                break;
            case ZeroCopyRegistration.AddZeroCopyTransport:
                builder.Services.AddZeroCopyTransport();
                break;
            default:
                builder.WebHost.UseZeroCopyTransport(code);
                break;
        }
    }

    /// <summary>Kestrel on 127.0.0.1:0 with the transport installed as <paramref name="registration"/> says, and the settings added last.</summary>
    private Task<TestHost> StartAsync(ZeroCopyRegistration registration, Dictionary<string, string?> settings)
        => TestHost.StartAsync(
            HostKind.Kestrel,
            _contentRoot.Path,
            builder =>
            {
                builder.Configuration.AddInMemoryCollection(settings);
                Install(builder, registration);
            },
            app =>
            {
                if (registration == ZeroCopyRegistration.AddZeroCopyStaticFiles)
                {
                    app.UseZeroCopyStaticFiles();
                }
            });

    private static ZeroCopyTransportOptions Options(WebApplication app) => app.Services.GetRequiredService<IOptions<ZeroCopyTransportOptions>>().Value;
}

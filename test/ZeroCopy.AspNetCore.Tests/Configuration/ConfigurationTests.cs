using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Options;

namespace ZeroCopy.AspNetCore.Tests.Configuration;

public sealed class ConfigurationTests : IDisposable
{
    private readonly TempDirectory _contentRoot = new("zc-config");

    public void Dispose() => _contentRoot.Dispose();

    private Task<TestHost> StartAsync(
        Dictionary<string, string?>? settings,
        Action<WebApplication>? configureApp = null,
        Action<ZeroCopyStaticFilesOptions>? configure = null,
        HostKind kind = HostKind.TestServer)
        => TestHost.StartAsync(
            kind,
            _contentRoot.Path,
            builder =>
            {
                if (settings is not null)
                {
                    builder.Configuration.AddInMemoryCollection(settings);
                }

                if (configure is null)
                {
                    builder.Services.AddZeroCopyStaticFiles();
                }
                else
                {
                    builder.Services.AddZeroCopyStaticFiles(configure);
                }
            },
            configureApp ?? (app => app.UseZeroCopyStaticFiles()));

    [Fact]
    public async Task Every_key_of_the_section_is_bound()
    {
        _contentRoot.Write("files/a.txt", "A");
        await using var host = await StartAsync(new()
        {
            ["ZeroCopyStaticFiles:Root"] = "files",
            ["ZeroCopyStaticFiles:RequestPath"] = "/assets",
            ["ZeroCopyStaticFiles:ServeUnknownFileTypes"] = "true",
            ["ZeroCopyStaticFiles:DefaultContentType"] = "application/x-default",
            ["ZeroCopyStaticFiles:ContentTypes:.weird"] = "application/x-weird",
            ["ZeroCopyStaticFiles:ContentTypes:odd"] = "application/x-odd",
            ["ZeroCopyStaticFiles:CacheControl"] = "public, max-age=60",
            ["ZeroCopyStaticFiles:Mode"] = "splice",
            ["ZeroCopyStaticFiles:MinZeroCopyBytes"] = "4096",
            ["ZeroCopyStaticFiles:Cache:MinHits"] = "3",
        });

        var options = host.Services.GetRequiredService<IOptionsMonitor<ZeroCopyStaticFilesOptions>>().CurrentValue;

        Assert.Equal("files", options.Root);
        Assert.Equal("/assets", options.RequestPath);
        Assert.True(options.ServeUnknownFileTypes);
        Assert.Equal("application/x-default", options.DefaultContentType);
        Assert.Equal("application/x-weird", options.ContentTypes[".weird"]);
        Assert.Equal("application/x-odd", options.ContentTypes["ODD"]);
        Assert.Equal("public, max-age=60", options.CacheControl);
        Assert.Equal(ZeroCopyMode.Splice, options.Mode);
        Assert.Equal(4096, options.MinZeroCopyBytes);
        Assert.Equal(3, options.Cache.MinHits);
    }

    [Fact]
    public async Task Defaults_apply_when_the_section_is_absent()
    {
        await using var host = await StartAsync(null);

        var options = host.Services.GetRequiredService<IOptionsMonitor<ZeroCopyStaticFilesOptions>>().CurrentValue;

        Assert.Null(options.Root);
        Assert.Null(options.RequestPath);
        Assert.Null(options.ServeUnknownFileTypes);
        Assert.Null(options.CacheControl);
        Assert.Empty(options.ContentTypes);
        Assert.Equal(ZeroCopyMode.Auto, options.Mode);
        Assert.Equal(16 * 1024, options.MinZeroCopyBytes);
        Assert.Equal(1, options.Cache.MinHits);
    }

    [Fact]
    public async Task Configured_root_request_path_content_types_and_cache_control_shape_responses()
    {
        _contentRoot.Write("files/a.weird", "W");
        _contentRoot.Write("files/b.txt", "0123456789");
        await using var host = await StartAsync(new()
        {
            ["ZeroCopyStaticFiles:Root"] = "files",
            ["ZeroCopyStaticFiles:RequestPath"] = "/assets",
            ["ZeroCopyStaticFiles:ContentTypes:weird"] = "application/x-weird",
            ["ZeroCopyStaticFiles:CacheControl"] = "public, max-age=60",
        });
        var ct = TestContext.Current.CancellationToken;

        using var weird = await host.Client.GetAsync("/assets/a.weird", ct);
        using var full = await host.Client.GetAsync("/assets/b.txt", ct);
        using var notFound = await host.Client.GetAsync("/assets/missing.txt", ct);
        using var rangeRequest = new HttpRequestMessage(HttpMethod.Get, "/assets/b.txt") { Headers = { { "Range", "bytes=0-1" } } };
        using var partial = await host.Client.SendAsync(rangeRequest, ct);
        using var unsatisfiableRequest = new HttpRequestMessage(HttpMethod.Get, "/assets/b.txt") { Headers = { { "Range", "bytes=50-" } } };
        using var unsatisfiable = await host.Client.SendAsync(unsatisfiableRequest, ct);
        using var conditional = new HttpRequestMessage(HttpMethod.Get, "/assets/b.txt");
        conditional.Headers.TryAddWithoutValidation("If-None-Match", full.Headers.ETag!.Tag);
        using var notModified = await host.Client.SendAsync(conditional, ct);

        Assert.Equal("application/x-weird", weird.Content.Headers.ContentType?.MediaType);
        Assert.Equal("public, max-age=60", full.Headers.CacheControl?.ToString());
        Assert.Equal("public, max-age=60", partial.Headers.CacheControl?.ToString());
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Equal("public, max-age=60", notModified.Headers.CacheControl?.ToString());
        Assert.Null(unsatisfiable.Headers.CacheControl);
        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
        Assert.Null(notFound.Headers.CacheControl);
    }

    [Fact]
    public async Task Invalid_settings_fail_at_start_with_every_problem_in_one_message()
    {
        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => StartAsync(new()
        {
            ["ZeroCopyStaticFiles:Root"] = "does-not-exist",
            ["ZeroCopyStaticFiles:RequestPath"] = "assets/",
            ["ZeroCopyStaticFiles:ServeUnknownFileTypes"] = "maybe",
            ["ZeroCopyStaticFiles:DefaultContentType"] = "not a type",
            ["ZeroCopyStaticFiles:ContentTypes:.x"] = "also not a type",
            ["ZeroCopyStaticFiles:CacheControl"] = "max-age=abc=",
            ["ZeroCopyStaticFiles:Mode"] = "Teleport",
            ["ZeroCopyStaticFiles:MinZeroCopyBytes"] = "lots",
            ["ZeroCopyStaticFiles:Cache:MinHits"] = "0",
        }));

        var message = exception.Message;
        Assert.Contains("ZeroCopyStaticFiles:Root", message, StringComparison.Ordinal);
        Assert.Contains("ZeroCopyStaticFiles:RequestPath", message, StringComparison.Ordinal);
        Assert.Contains("ZeroCopyStaticFiles:ServeUnknownFileTypes", message, StringComparison.Ordinal);
        Assert.Contains("ZeroCopyStaticFiles:DefaultContentType", message, StringComparison.Ordinal);
        Assert.Contains("ZeroCopyStaticFiles:ContentTypes:.x", message, StringComparison.Ordinal);
        Assert.Contains("ZeroCopyStaticFiles:Mode: 'Teleport' is not one of Auto, SendFile, Splice, Stream", message, StringComparison.Ordinal);
        Assert.Contains("ZeroCopyStaticFiles:MinZeroCopyBytes", message, StringComparison.Ordinal);
        Assert.Contains("ZeroCopyStaticFiles:Cache:MinHits: 0 must be 1 or more.", message, StringComparison.Ordinal);
        Assert.Equal(9, exception.Failures.Count());
    }

    [Fact]
    public async Task A_numeric_mode_is_rejected()
    {
        var exception = await Assert.ThrowsAsync<OptionsValidationException>(() => StartAsync(new() { ["ZeroCopyStaticFiles:Mode"] = "2" }));

        Assert.Contains("Mode", Assert.Single(exception.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Code_configuration_wins_over_the_section()
    {
        await using var host = await StartAsync(
            new() { ["ZeroCopyStaticFiles:Mode"] = "Splice", ["ZeroCopyStaticFiles:CacheControl"] = "no-cache" },
            configure: o => o.Mode = ZeroCopyMode.Stream);

        var options = host.Services.GetRequiredService<IOptionsMonitor<ZeroCopyStaticFilesOptions>>().CurrentValue;

        Assert.Equal(ZeroCopyMode.Stream, options.Mode);
        Assert.Equal("no-cache", options.CacheControl);
    }

    [Fact]
    public async Task Explicit_overloads_keep_their_request_path_and_use_the_configured_root()
    {
        _contentRoot.Write("files/a.txt", "A");
        await using var host = await StartAsync(
            new() { ["ZeroCopyStaticFiles:Root"] = "files", ["ZeroCopyStaticFiles:RequestPath"] = "/ignored" },
            app => app.UseZeroCopyStaticFiles("/code"));

        Assert.Equal("A", await host.Client.GetStringAsync("/code/a.txt", TestContext.Current.CancellationToken));
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("/ignored/a.txt", TestContext.Current.CancellationToken)).StatusCode);
    }

    [Fact]
    public async Task Unknown_keys_are_reported_as_warnings()
    {
        await using var host = await StartAsync(new() { ["ZeroCopyStaticFiles:Mdoe"] = "Stream" });

        var warning = Assert.Single(host.Logs.ForEvent("UnknownConfigurationKey"));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("ZeroCopyStaticFiles:Mdoe", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_registration_files_are_served_and_one_warning_says_what_is_missing()
    {
        _contentRoot.Write("wwwroot/a.txt", "A");
        await using var host = await TestHost.StartAsync(HostKind.TestServer, _contentRoot.Path, null, app =>
        {
            app.UseZeroCopyStaticFiles();
            app.UseZeroCopyStaticFiles("/second");
        });

        Assert.Equal("A", await host.Client.GetStringAsync("/a.txt", TestContext.Current.CancellationToken));
        Assert.Equal("A", await host.Client.GetStringAsync("/second/a.txt", TestContext.Current.CancellationToken));
        var warning = Assert.Single(host.Logs.ForEvent("NotRegistered"));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("AddZeroCopyStaticFiles()", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Changing_appsettings_json_takes_effect_without_restart_and_a_bad_change_is_rejected()
    {
        _contentRoot.Write("one/v.txt", "one");
        _contentRoot.Write("two/v.txt", "two");
        WriteAppSettings("""{ "ZeroCopyStaticFiles": { "Root": "one", "CacheControl": "max-age=1" } }""");
        await using var host = await StartAsync(null, kind: HostKind.Kestrel);
        var ct = TestContext.Current.CancellationToken;
        Assert.Equal("one", await host.Client.GetStringAsync("/v.txt", ct));

        WriteAppSettings("""{ "ZeroCopyStaticFiles": { "Root": "two", "CacheControl": "max-age=2" } }""");
        await WaitUntilAsync(async () => await host.Client.GetStringAsync("/v.txt", ct) == "two");
        using (var response = await host.Client.GetAsync("/v.txt", ct))
        {
            Assert.Equal("max-age=2", response.Headers.CacheControl?.ToString());
        }

        Assert.NotEmpty(host.Logs.ForEvent("ConfigurationReloaded"));

        // A change that does not validate is logged and the previous settings stay.
        WriteAppSettings("""{ "ZeroCopyStaticFiles": { "Root": "one", "Mode": "Teleport" } }""");
        await WaitUntilAsync(() => Task.FromResult(host.Logs.ForEvent("ConfigurationRejected").Any()));
        var rejected = host.Logs.ForEvent("ConfigurationRejected").First();
        Assert.Equal(LogLevel.Error, rejected.Level);
        Assert.Contains("Teleport", rejected.Message, StringComparison.Ordinal);
        Assert.Equal("two", await host.Client.GetStringAsync("/v.txt", ct));
    }

    private void WriteAppSettings(string json)
    {
        // Write then rename, so the watcher never sees a half-written file.
        var temporary = _contentRoot.Combine("appsettings.json.tmp");
        File.WriteAllText(temporary, json);
        File.Move(temporary, _contentRoot.Combine("appsettings.json"), overwrite: true);
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(15), "condition not reached within 15 s");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }
}

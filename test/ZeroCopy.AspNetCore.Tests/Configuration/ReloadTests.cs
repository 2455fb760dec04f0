using System.Net;
using ZeroCopy.AspNetCore.Caching;
using ZeroCopy.AspNetCore.Configuration;
using ZeroCopy.AspNetCore.Diagnostics;

namespace ZeroCopy.AspNetCore.Tests.Configuration;

/// <summary>
/// Reloads of a real appsettings.json (the host's JSON provider with reloadOnChange): what a save
/// keeps, drops and logs. Every wait is on something the library reports (an evaluation, a change,
/// a log event), bounded.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ReloadTests : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(20);
    private readonly TempDirectory _contentRoot = new("zc-reload");

    public ReloadTests()
    {
        _contentRoot.WriteRandom("files/a.txt", 1000, seed: 1);
        _contentRoot.WriteRandom("files/b.txt", 1000, seed: 2);
        _contentRoot.WriteRandom("files/c.txt", 1000, seed: 3);
    }

    public void Dispose() => _contentRoot.Dispose();

    [Fact]
    public async Task Touching_appsettings_json_keeps_the_cache_and_logs_nothing()
    {
        WriteAppSettings(Settings(extra: "\"Mdoe\": \"Stream\","));
        await using var host = await StartAsync();
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        await GetAsync(host, "/a.txt", "/b.txt");
        var cache = Cache(host);
        Assert.Equal(2, cache.Count);
        var settings = host.Services.GetRequiredService<ZeroCopySettings>();
        var options = settings.Current;
        var ownLogs = OwnLogs(host);
        TestContext.Current.TestOutputHelper?.WriteLine($"before touch: entries={metrics.Gauge("zerocopy.cache.entries")} bytes={metrics.Gauge("zerocopy.cache.bytes")} {metrics.Dump()}");

        await TouchAsync(settings);
        TestContext.Current.TestOutputHelper?.WriteLine($"after touch: entries={metrics.Gauge("zerocopy.cache.entries")} bytes={metrics.Gauge("zerocopy.cache.bytes")} {metrics.Dump()}");

        Assert.Same(cache, Cache(host));
        Assert.Equal(2, cache.Count);
        Assert.Same(options, settings.Current);
        // Not a word from the library (the host may still be logging the last request's end).
        Assert.Equal(ownLogs, OwnLogs(host));
        Assert.Single(host.Logs.ForEvent("UnknownConfigurationKey"));
        var (hits, misses) = (metrics.Total("zerocopy.cache.hits"), metrics.Total("zerocopy.cache.misses"));
        await GetAsync(host, "/a.txt", "/b.txt");
        Assert.Equal((hits + 2, misses), (metrics.Total("zerocopy.cache.hits"), metrics.Total("zerocopy.cache.misses")));
        TestContext.Current.TestOutputHelper?.WriteLine($"after touch and two requests: entries={metrics.Gauge("zerocopy.cache.entries")} {metrics.Dump()}");

        // The next effective change is the first one logged.
        await ChangeAsync(settings, Settings(cacheControl: "max-age=2", extra: "\"Mdoe\": \"Stream\","), SettingsChange.Responses);
        var reloaded = Assert.Single(host.Logs.ForEvent("ConfigurationReloaded"));
        Assert.Contains("(CacheControl changed)", reloaded.Message, StringComparison.Ordinal);
        Assert.Equal(2, host.Logs.ForEvent("Serving").Count());
        Assert.Single(host.Logs.ForEvent("UnknownConfigurationKey"));
    }

    [Fact]
    public async Task Changing_only_cache_limits_keeps_the_entries_that_fit_them()
    {
        WriteAppSettings(Settings(maxEntries: 10, cacheControl: "max-age=7"));
        await using var host = await StartAsync();
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        // a is the least recently used.
        await GetAsync(host, "/a.txt", "/b.txt", "/c.txt");
        await GetAsync(host, "/c.txt");
        var before = Cache(host);
        Assert.Equal(3, before.Count);
        var settings = host.Services.GetRequiredService<ZeroCopySettings>();

        await ChangeAsync(settings, Settings(maxEntries: 2, cacheControl: "max-age=7"), SettingsChange.CacheLimits);

        var after = Cache(host);
        Assert.NotSame(before, after);
        Assert.Equal(["/b.txt", "/c.txt"], after.Entries().Select(e => e.Key.Path).Order(StringComparer.Ordinal));

        // The copies keep what their entries had looked up and counted: the Cache-Control the rules
        // gave them, and their frequency (c was admitted with 1 and hit once).
        Assert.All(after.Entries(), static e => Assert.Equal("max-age=7", e.CacheControl));
        Assert.Equal(2, after.Entries().Single(static e => e.Key.Path == "/c.txt").Frequency(0));
        Assert.Equal(1, metrics.Total("zerocopy.cache.evictions"));
        var (hits, misses) = (metrics.Total("zerocopy.cache.hits"), metrics.Total("zerocopy.cache.misses"));
        var bodies = await GetAsync(host, "/b.txt", "/c.txt");
        Assert.Equal((hits + 2, misses), (metrics.Total("zerocopy.cache.hits"), metrics.Total("zerocopy.cache.misses")));
        Assert.Equal(File.ReadAllBytes(_contentRoot.Combine("files/b.txt")), bodies[0]);
        Assert.Equal(File.ReadAllBytes(_contentRoot.Combine("files/c.txt")), bodies[1]);

        var reloaded = Assert.Single(host.Logs.ForEvent("CacheLimitsReloaded"));
        Assert.Contains("(Cache:MaxEntries changed)", reloaded.Message, StringComparison.Ordinal);
        Assert.Empty(host.Logs.ForEvent("ConfigurationReloaded"));
        Assert.Single(host.Logs.ForEvent("Serving"));
    }

    [Fact]
    public async Task Lowering_MaxFileBytes_drops_the_copies_above_it_and_keeps_the_rest()
    {
        _contentRoot.WriteRandom("files/big.txt", 5000, seed: 4);
        WriteAppSettings(Settings(maxEntries: 10));
        await using var host = await StartAsync();
        await GetAsync(host, "/a.txt", "/big.txt");
        Assert.Equal(2, Cache(host).SnapshotCount);
        var settings = host.Services.GetRequiredService<ZeroCopySettings>();

        await ChangeAsync(settings, Settings(maxEntries: 10, maxFileBytes: 4096), SettingsChange.CacheLimits);

        var entry = Assert.Single(Cache(host).Entries());
        Assert.Equal("/a.txt", entry.Key.Path);
        Assert.Equal(1000, Cache(host).SnapshotBytes);
        var bodies = await GetAsync(host, "/a.txt", "/big.txt");
        Assert.Equal(File.ReadAllBytes(_contentRoot.Combine("files/big.txt")), bodies[1]);
    }

    [Fact]
    public async Task A_change_that_shapes_responses_empties_the_cache_and_is_logged_once()
    {
        WriteAppSettings(Settings(cacheControl: "max-age=1"));
        await using var host = await StartAsync();
        await GetAsync(host, "/a.txt", "/b.txt");
        var before = Cache(host);
        Assert.Equal(2, before.Count);
        var settings = host.Services.GetRequiredService<ZeroCopySettings>();

        await ChangeAsync(settings, Settings(cacheControl: "max-age=2"), SettingsChange.Responses);

        var after = Cache(host);
        Assert.NotSame(before, after);
        Assert.Equal(0, after.Count);
        using var response = await host.Client.GetAsync("/a.txt", TestContext.Current.CancellationToken);
        Assert.Equal("max-age=2", response.Headers.CacheControl?.ToString());
        Assert.Single(host.Logs.ForEvent("ConfigurationReloaded"));
        Assert.Equal(2, host.Logs.ForEvent("Serving").Count());
    }

    [Fact]
    public async Task A_rejected_change_is_logged_once_with_one_line_per_problem()
    {
        WriteAppSettings(Settings());
        await using var host = await StartAsync();
        var settings = host.Services.GetRequiredService<ZeroCopySettings>();
        var applied = settings.Current;

        WriteAppSettings("""{ "ZeroCopyStaticFiles": { "Root": "files", "Mode": "Teleport", "Cache": { "MaxEntries": 0 } } }""");
        Assert.True(await Poll.UntilAsync(() => host.Logs.ForEvent("ConfigurationRejected").Any(), s_timeout), "the bad save was not rejected");
        // The same content seen again (the watcher's next event for that save, or a touch) adds nothing.
        await TouchAsync(settings);
        await ChangeAsync(settings, Settings(cacheControl: "max-age=3"), SettingsChange.Responses);

        var rejected = Assert.Single(host.Logs.ForEvent("ConfigurationRejected"));
        Assert.Equal(LogLevel.Error, rejected.Level);
        var lines = rejected.Message.Split('\n');
        Assert.Contains("ZeroCopyStaticFiles:Mode: 'Teleport' is not one of Auto, SendFile, Splice, Stream.", lines);
        Assert.Contains("ZeroCopyStaticFiles:Cache:MaxEntries: 0 must be 1 or more.", lines);
        Assert.NotSame(applied, settings.Current);
        Assert.Single(host.Logs.ForEvent("ConfigurationReloaded"));
    }

    private static string Settings(int maxEntries = 100, long maxFileBytes = 1024 * 1024, string? cacheControl = null, string extra = "")
        => $$"""
        {
          "ZeroCopyStaticFiles": {
            {{extra}}
            "Root": "files",
            {{(cacheControl is null ? string.Empty : $"\"CacheControl\": \"{cacheControl}\",")}}
            "Cache": { "MinHits": 1, "MaxEntries": {{maxEntries}}, "MaxFileBytes": {{maxFileBytes}} }
          }
        }
        """;

    private Task<TestHost> StartAsync()
        => TestHost.StartAsync(
            HostKind.TestServer,
            _contentRoot.Path,
            builder => builder.Services.AddZeroCopyStaticFiles(),
            app => app.UseZeroCopyStaticFiles());

    private static string[] OwnLogs(TestHost host)
        => [.. host.Logs.Records.Where(r => r.Category.StartsWith("ZeroCopy.", StringComparison.Ordinal)).Select(r => r.Message)];

    private static FileCache Cache(TestHost host)
        => (FileCache)Assert.Single(host.Services.GetRequiredService<ZeroCopyMetrics>().Caches);

    private static async Task<byte[][]> GetAsync(TestHost host, params string[] paths)
    {
        var bodies = new byte[paths.Length][];
        for (var i = 0; i < paths.Length; i++)
        {
            using var response = await host.Client.GetAsync(paths[i], TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            bodies[i] = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        }

        return bodies;
    }

    /// <summary>Sets appsettings.json's modification time to now and waits until the library has looked at the result.</summary>
    private async Task TouchAsync(ZeroCopySettings settings)
    {
        var evaluations = settings.Evaluations;
        File.SetLastWriteTimeUtc(_contentRoot.Combine("appsettings.json"), DateTime.UtcNow.AddSeconds(1));
        Assert.True(await Poll.UntilAsync(() => settings.Evaluations > evaluations, s_timeout), "the touch was not seen");
    }

    /// <summary>Saves <paramref name="json"/> and waits until every middleware has applied it (handlers run in subscription order, the middleware's first).</summary>
    private async Task ChangeAsync(ZeroCopySettings settings, string json, SettingsChange expected)
    {
        var applied = new TaskCompletionSource<SettingsChange>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChanged(SettingsChange change) => applied.TrySetResult(change);
        settings.Changed += OnChanged;
        try
        {
            WriteAppSettings(json);
            Assert.Equal(expected, await applied.Task.WaitAsync(s_timeout, TestContext.Current.CancellationToken));
        }
        finally
        {
            settings.Changed -= OnChanged;
        }
    }

    private void WriteAppSettings(string json)
    {
        // Write then rename, so the watcher never reads a half-written file.
        var temporary = _contentRoot.Combine("appsettings.json.tmp");
        File.WriteAllText(temporary, json);
        File.Move(temporary, _contentRoot.Combine("appsettings.json"), overwrite: true);
    }
}

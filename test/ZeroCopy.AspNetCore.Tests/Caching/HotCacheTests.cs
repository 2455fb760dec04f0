using System.Diagnostics.Metrics;
using System.Net;
using ZeroCopy.AspNetCore.Caching;
using ZeroCopy.AspNetCore.Diagnostics;

namespace ZeroCopy.AspNetCore.Tests.Caching;

/// <summary>Admission, hits, eviction and revalidation of the hot-file cache.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class HotCacheTests : IDisposable
{
    private readonly TempDirectory _root = new("zc-cache");

    public HotCacheTests()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The hot-file cache needs Linux.");
    }

    public void Dispose() => _root.Dispose();

    private async Task<(TestHost Host, MetricsCollector Metrics)> StartAsync(Action<ZeroCopyCacheOptions> cache, HostKind kind = HostKind.Kestrel, Action<ZeroCopyStaticFilesOptions>? more = null)
    {
        var host = await Hosts.ZeroCopyAsync(kind, _root, configureBuilder: b => b.Services.AddZeroCopyStaticFiles(o =>
        {
            cache(o.Cache);
            more?.Invoke(o);
        }));
        return (host, new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>()));
    }

    private static FileCache CacheOf(TestHost host)
        => (FileCache)Assert.Single(host.Services.GetRequiredService<ZeroCopyMetrics>().Caches);

    [Theory]
    [InlineData(HostKind.Kestrel)]
    [InlineData(HostKind.TestServer)]
    public async Task A_file_is_admitted_on_its_MinHits_th_request_and_hits_after_that(HostKind kind)
    {
        var expected = File.ReadAllBytes(_root.WriteRandom("hot.js", 4096, seed: 1));
        var (host, metrics) = await StartAsync(c => c.MinHits = 3, kind);
        await using var _ = host;
        using var __ = metrics;

        for (var i = 1; i <= 6; i++)
        {
            using var response = await host.Client.GetAsync("/hot.js", TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/javascript", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(expected, await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        }

        // Requests 1-3 miss (the third admits the file), 4-6 hit.
        Assert.Equal(3, metrics.Total("zerocopy.cache.misses"));
        Assert.Equal(1, metrics.Total("zerocopy.cache.admissions"));
        Assert.Equal(3, metrics.Total("zerocopy.cache.hits"));
        Assert.Equal(1, metrics.Gauge("zerocopy.cache.entries"));
        Assert.Equal(4096, metrics.Gauge("zerocopy.cache.bytes"));
        Assert.Equal(4 * 4096, metrics.Bytes("hot-cache"));
        Assert.Equal(1, CacheOf(host).SnapshotCount);
    }

    [Fact]
    public async Task Below_the_limits_every_file_is_admitted_on_its_first_request_by_default()
    {
        for (var i = 0; i < 150; i++)
        {
            _root.WriteRandom($"f/{i:D3}.js", 512, seed: i);
        }

        var (host, metrics) = await StartAsync(static _ => { }, HostKind.TestServer);
        await using var _ = host;
        using var __ = metrics;
        for (var i = 0; i < 150; i++)
        {
            using var response = await host.Client.GetAsync($"/f/{i:D3}.js", TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(150, metrics.Total("zerocopy.cache.admissions"));
    }

    [Theory]
    [InlineData(HostKind.Kestrel)]
    [InlineData(HostKind.TestServer)]
    public async Task A_hit_carries_the_Cache_Control_the_rules_gave_its_file_and_its_precompressed_sibling(HostKind kind)
    {
        var css = File.ReadAllBytes(_root.WriteRandom("assets/site.css", 3000, seed: 3));
        var gzip = File.ReadAllBytes(_root.WriteRandom("assets/site.css.gz", 900, seed: 4));
        var text = File.ReadAllBytes(_root.WriteRandom("notes.txt", 2000, seed: 5));
        var (host, metrics) = await StartAsync(static _ => { }, kind, more: o =>
        {
            o.CacheControl = "no-cache";
            o.CacheControlRules.Add(new CacheControlRule { Match = "assets/**", CacheControl = "public, max-age=31536000, immutable" });
        });
        await using var _ = host;
        using var __ = metrics;
        var ct = TestContext.Current.CancellationToken;

        for (var i = 0; i < 3; i++)
        {
            using var plain = await host.Client.GetAsync("/assets/site.css", ct);
            Assert.Equal(css, await plain.Content.ReadAsByteArrayAsync(ct));
            Assert.Equal("public, max-age=31536000, immutable", plain.Headers.CacheControl?.ToString());

            using var request = new HttpRequestMessage(HttpMethod.Get, "/assets/site.css") { Headers = { { "Accept-Encoding", "gzip" } } };
            using var compressed = await host.Client.SendAsync(request, ct);
            Assert.Equal("gzip", Assert.Single(compressed.Content.Headers.ContentEncoding));
            Assert.Equal(gzip, await compressed.Content.ReadAsByteArrayAsync(ct));
            Assert.Equal("public, max-age=31536000, immutable", compressed.Headers.CacheControl?.ToString());

            using var other = await host.Client.GetAsync("/notes.txt", ct);
            Assert.Equal(text, await other.Content.ReadAsByteArrayAsync(ct));
            Assert.Equal("no-cache", other.Headers.CacheControl?.ToString());
        }

        // Admitted on the first round (three entries), hit on the other two.
        Assert.Equal(3, metrics.Total("zerocopy.cache.admissions"));
        Assert.True(metrics.Total("zerocopy.cache.hits") >= 6, metrics.Dump());
    }

    [Fact]
    public async Task Hits_keep_the_stock_header_set_conditionals_and_ranges()
    {
        var path = _root.WriteRandom("hot.css", 10_000, seed: 2);
        var expected = File.ReadAllBytes(path);
        var (host, metrics) = await StartAsync(c => c.MinHits = 1, more: o => o.CacheControl = "max-age=5");
        await using var _ = host;
        using var __ = metrics;
        var ct = TestContext.Current.CancellationToken;

        using var first = await host.Client.GetAsync("/hot.css", ct);
        using var second = await host.Client.GetAsync("/hot.css", ct);
        var etag = second.Headers.ETag!.Tag;
        using var conditional = new HttpRequestMessage(HttpMethod.Get, "/hot.css") { Headers = { { "If-None-Match", etag } } };
        using var notModified = await host.Client.SendAsync(conditional, ct);
        using var ranged = new HttpRequestMessage(HttpMethod.Get, "/hot.css") { Headers = { { "Range", "bytes=100-199" } } };
        using var partial = await host.Client.SendAsync(ranged, ct);
        using var head = await host.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/hot.css"), ct);

        Assert.Equal(first.Headers.ETag, second.Headers.ETag);
        Assert.Equal(first.Content.Headers.LastModified, second.Content.Headers.LastModified);
        Assert.Equal(new DateTimeOffset(File.GetLastWriteTimeUtc(path)).AddTicks(-(File.GetLastWriteTimeUtc(path).Ticks % TimeSpan.TicksPerSecond)), second.Content.Headers.LastModified);
        Assert.Equal("max-age=5", second.Headers.CacheControl?.ToString());
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal(expected.AsSpan(100, 100).ToArray(), await partial.Content.ReadAsByteArrayAsync(ct));
        Assert.Equal(10_000, head.Content.Headers.ContentLength);
        Assert.True(metrics.Total("zerocopy.cache.hits") >= 4);
    }

    [Fact]
    public async Task Large_files_keep_an_open_descriptor_instead_of_a_snapshot()
    {
        var expected = File.ReadAllBytes(_root.WriteRandom("big.bin", 3 << 20, seed: 3));
        var (host, metrics) = await StartAsync(c =>
        {
            c.MinHits = 1;
            c.MaxFileBytes = 1 << 20;
        });
        await using var _ = host;
        using var __ = metrics;

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(expected, await host.Client.GetByteArrayAsync("/big.bin", TestContext.Current.CancellationToken));
        }

        Assert.Equal(1, metrics.Gauge("zerocopy.cache.entries"));
        Assert.Equal(0, metrics.Gauge("zerocopy.cache.bytes"));
        Assert.Equal(2, metrics.Total("zerocopy.cache.hits"));
        Assert.True(await Poll.UntilAsync(() => metrics.Responses("sendfile") == 3, TimeSpan.FromSeconds(10)), metrics.Dump());
    }

    [Fact]
    public async Task Large_snapshots_are_sent_with_sendfile_from_the_memfd_and_counted_as_hot_cache()
    {
        var expected = File.ReadAllBytes(_root.WriteRandom("mid.bin", 200_000, seed: 4));
        var (host, metrics) = await StartAsync(c => c.MinHits = 1);
        await using var _ = host;
        using var __ = metrics;

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(expected, await host.Client.GetByteArrayAsync("/mid.bin", TestContext.Current.CancellationToken));
        }

        Assert.True(await Poll.UntilAsync(() => metrics.Responses("hot-cache") == 3, TimeSpan.FromSeconds(10)), metrics.Dump());
        Assert.Equal(0, metrics.Responses("sendfile"));
        Assert.Equal(200_000, metrics.Gauge("zerocopy.cache.bytes"));
    }

    [Fact]
    public async Task Eviction_keeps_entries_and_bytes_within_the_limits()
    {
        for (var i = 0; i < 20; i++)
        {
            _root.WriteRandom($"f{i}.txt", 10_000, seed: i);
        }

        var (host, metrics) = await StartAsync(c =>
        {
            c.MinHits = 1;
            c.MaxEntries = 8;
            c.MaxTotalBytes = 50_000;
            c.MaxFileBytes = 20_000;
        });
        await using var _ = host;
        using var __ = metrics;

        // At most three copies fit (arenas of one 16 KiB slot, 50,000 reserved bytes at most).
        // Popularity shifts: in each phase a new group of three files is asked for more often
        // than the group before was (3k + 2 times in phase k), so each group displaces the last
        // (a file displaces only entries asked for less often than itself).
        for (var phase = 0; phase < 6; phase++)
        {
            for (var round = 0; round < (3 * phase) + 2; round++)
            {
                for (var n = 0; n < 3; n++)
                {
                    var i = (phase * 3) + n;
                    var body = await host.Client.GetByteArrayAsync($"/f{i}.txt", TestContext.Current.CancellationToken);
                    Assert.Equal(File.ReadAllBytes(_root.Combine($"f{i}.txt")), body);
                    Assert.True(metrics.Gauge("zerocopy.cache.entries") <= 8);
                    Assert.True(metrics.Gauge("zerocopy.cache.bytes") <= 50_000);
                    Assert.True(metrics.Gauge("zerocopy.cache.reserved.bytes") <= 50_000);
                }
            }

            // The phase's group is what the cache holds at its end.
            Assert.True(
                Enumerable.Range(phase * 3, 3).Select(static i => $"/f{i}.txt").Order().SequenceEqual(CacheOf(host).Entries().Select(static e => e.FilePath).Order()),
                $"phase {phase}: " + string.Join(", ", CacheOf(host).Entries().Select(static e => $"{e.FilePath}={e.Frequency(0)}")) + " " + metrics.Dump());
        }

        Assert.Equal(3 * 5, metrics.Total("zerocopy.cache.evictions"));
    }

    [Fact]
    public async Task At_MaxEntries_a_file_displaces_only_an_entry_asked_for_less_often()
    {
        for (var i = 0; i < 12; i++)
        {
            _root.WriteRandom($"p{i}.bin", 1000, seed: 100 + i);
        }

        var (host, metrics) = await StartAsync(c =>
        {
            c.MinHits = 2;
            c.MaxEntries = 10;
        });
        await using var _ = host;
        using var __ = metrics;
        var ct = TestContext.Current.CancellationToken;

        async Task GetAsync(int file, int times)
        {
            for (var n = 0; n < times; n++)
            {
                Assert.Equal(File.ReadAllBytes(_root.Combine($"p{file}.bin")), await host.Client.GetByteArrayAsync($"/p{file}.bin", ct));
            }
        }

        // Ten files admitted on their second request (frequency 2); p0 is hit twice more (4).
        for (var i = 0; i < 10; i++)
        {
            await GetAsync(i, 2);
        }

        await GetAsync(0, 2);
        Assert.Equal(10, metrics.Total("zerocopy.cache.admissions"));
        Assert.Equal(10, CacheOf(host).Count);

        // p10 with as many requests as the coldest entries: refused, nothing evicted.
        await GetAsync(10, 2);
        Assert.Equal(10, metrics.Total("zerocopy.cache.admissions"));
        Assert.Equal(0, metrics.Total("zerocopy.cache.evictions"));

        // One more request than them: admitted in place of the coldest entry (the least recently
        // used among equals, down to 90 % of MaxEntries), never the hot p0.
        await GetAsync(10, 1);
        Assert.Equal(11, metrics.Total("zerocopy.cache.admissions"));
        Assert.Equal(1, metrics.Total("zerocopy.cache.evictions"));
        Assert.Equal(10, CacheOf(host).Count);
        var cached = CacheOf(host).Entries().Select(static e => e.FilePath).ToHashSet();
        Assert.Contains("/p0.bin", cached);
        Assert.Contains("/p10.bin", cached);
        Assert.Contains("/p2.bin", cached);
        Assert.DoesNotContain("/p1.bin", cached);

        // The same again for p11: two requests are not enough, three displace p2.
        await GetAsync(11, 2);
        Assert.Equal(11, metrics.Total("zerocopy.cache.admissions"));
        await GetAsync(11, 1);
        Assert.Equal(2, metrics.Total("zerocopy.cache.evictions"));
        Assert.DoesNotContain("/p2.bin", CacheOf(host).Entries().Select(static e => e.FilePath));
        Assert.Equal(12, metrics.Total("zerocopy.cache.admissions"));
    }

    [Fact]
    public async Task A_changed_file_is_served_anew_after_RevalidateAfter_even_without_a_watcher_event()
    {
        var path = _root.Write("v.txt", "version one");
        var (host, metrics) = await StartAsync(c =>
        {
            c.MinHits = 1;
            c.RevalidateAfter = TimeSpan.FromMilliseconds(200);
        });
        await using var _ = host;
        using var __ = metrics;
        var ct = TestContext.Current.CancellationToken;
        Assert.Equal("version one", await host.Client.GetStringAsync("/v.txt", ct));
        Assert.Equal("version one", await host.Client.GetStringAsync("/v.txt", ct));

        File.WriteAllText(path, "version two, longer");
        var changed = System.Diagnostics.Stopwatch.StartNew();
        Assert.True(await Poll.UntilAsync(() => host.Client.GetStringAsync("/v.txt", ct).GetAwaiter().GetResult() == "version two, longer", TimeSpan.FromSeconds(5)));
        Assert.True(changed.Elapsed < TimeSpan.FromSeconds(1), $"visible after {changed.Elapsed}");

        File.Delete(path);
        Assert.True(await Poll.UntilAsync(() => host.Client.GetAsync("/v.txt", ct).GetAwaiter().GetResult().StatusCode == HttpStatusCode.NotFound, TimeSpan.FromSeconds(5)));
        Assert.Equal(0, CacheOf(host).Count);
    }

    [Fact]
    public async Task The_cache_can_be_turned_off()
    {
        _root.WriteRandom("hot.js", 4096);
        var (host, metrics) = await StartAsync(c => c.Enabled = false);
        await using var _ = host;
        using var __ = metrics;

        for (var i = 0; i < 3; i++)
        {
            await host.Client.GetByteArrayAsync("/hot.js", TestContext.Current.CancellationToken);
        }

        Assert.Empty(host.Services.GetRequiredService<ZeroCopyMetrics>().Caches);
        Assert.Equal(3, metrics.Responses("stream"));
    }
}

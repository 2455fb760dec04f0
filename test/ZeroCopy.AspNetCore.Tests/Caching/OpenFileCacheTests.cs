using System.Diagnostics.Metrics;
using System.Net;

namespace ZeroCopy.AspNetCore.Tests.Caching;

/// <summary>
/// Files above Cache:MaxFileBytes are kept as an open descriptor with their metadata from their
/// first request (nginx's open_file_cache with min_uses 1), unpaced and bounded by MaxEntries;
/// smaller files still wait for MinHits.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class OpenFileCacheTests : IDisposable
{
    private const int MaxFileBytes = 4096;
    private readonly TempDirectory _root = new("zc-open-file-cache");

    public OpenFileCacheTests()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The hot-file cache needs Linux.");
    }

    public void Dispose() => _root.Dispose();

    private async Task<(TestHost Host, MetricsCollector Metrics)> StartAsync(HostKind kind, Action<ZeroCopyCacheOptions>? cache = null)
    {
        var host = await Hosts.ZeroCopyAsync(kind, _root, configureBuilder: b => b.Services.AddZeroCopyStaticFiles(o =>
        {
            o.Cache.MaxFileBytes = MaxFileBytes;
            o.Cache.MinHits = 2;
            cache?.Invoke(o.Cache);
        }));
        return (host, new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>()));
    }

    private static async Task GetExactAsync(TestHost host, string path, byte[] expected)
    {
        using var response = await host.Client.GetAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(expected, await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData(HostKind.Kestrel)]
    [InlineData(HostKind.TestServer)]
    public async Task A_file_above_MaxFileBytes_is_kept_from_its_first_request_and_a_small_one_waits_for_MinHits(HostKind kind)
    {
        var large = File.ReadAllBytes(_root.WriteRandom("large.bin", MaxFileBytes + 1, seed: 3));
        var small = File.ReadAllBytes(_root.WriteRandom("small.bin", MaxFileBytes, seed: 4));
        var (host, metrics) = await StartAsync(kind);
        await using var _ = host;
        using var __ = metrics;

        await GetExactAsync(host, "/large.bin", large);
        await GetExactAsync(host, "/small.bin", small);
        Assert.Equal(1, metrics.Total("zerocopy.cache.admissions"));
        Assert.Equal(1, metrics.Gauge("zerocopy.cache.entries"));
        // A kept descriptor holds no copy.
        Assert.Equal(0, metrics.Gauge("zerocopy.cache.bytes"));

        await GetExactAsync(host, "/large.bin", large);
        Assert.Equal(1, metrics.Total("zerocopy.cache.hits"));

        // The small file's second request admits it; its third hits.
        await GetExactAsync(host, "/small.bin", small);
        await GetExactAsync(host, "/small.bin", small);
        Assert.Equal(2, metrics.Total("zerocopy.cache.admissions"));
        Assert.Equal(2, metrics.Total("zerocopy.cache.hits"));
        Assert.Equal(MaxFileBytes, metrics.Gauge("zerocopy.cache.bytes"));
    }

    [Fact]
    public async Task Kept_descriptors_are_not_paced_and_stay_within_MaxEntries()
    {
        const int files = 100;
        var (host, metrics) = await StartAsync(HostKind.TestServer, c =>
        {
            c.MinHits = 3;
            c.MaxEntries = 80;
        });
        await using var _ = host;
        using var __ = metrics;

        var contents = new byte[files][];
        for (var i = 0; i < files; i++)
        {
            contents[i] = File.ReadAllBytes(_root.WriteRandom($"big/{i}.bin", MaxFileBytes + 1 + i, seed: 100 + i));
        }

        // 80 files once each: kept from their first request, whatever MinHits says.
        for (var i = 0; i < 80; i++)
        {
            await GetExactAsync(host, $"/big/{i}.bin", contents[i]);
        }

        Assert.Equal(80, metrics.Total("zerocopy.cache.admissions"));

        // 20 more, twice each: more frequent than the kept ones, so they displace them.
        for (var i = 80; i < files; i++)
        {
            await GetExactAsync(host, $"/big/{i}.bin", contents[i]);
            await GetExactAsync(host, $"/big/{i}.bin", contents[i]);
        }

        Assert.Equal(files, metrics.Total("zerocopy.cache.admissions"));
        Assert.True(metrics.Total("zerocopy.cache.evictions") >= files - 80, metrics.Dump());
        Assert.InRange(metrics.Gauge("zerocopy.cache.entries"), 1, 80);

        // The most recent file is still kept: its next request is a hit.
        var hits = metrics.Total("zerocopy.cache.hits");
        await GetExactAsync(host, $"/big/{files - 1}.bin", contents[files - 1]);
        Assert.Equal(hits + 1, metrics.Total("zerocopy.cache.hits"));
    }
}

using System.Diagnostics.Metrics;
using System.Net;

namespace ZeroCopy.AspNetCore.Tests.Caching;

/// <summary>
/// A crawler sweeping many distinct files once each must not flush the hot set: at the cache's
/// limits a file displaces only entries asked for less often than itself, and a sweep asks for each
/// file once. A file asked for more often than the coldest entry still gets in.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ScanResistanceTests : IDisposable
{
    private const int HotFiles = 20;
    private const int ScannedFiles = 400;
    private const int MaxEntries = 50;
    private readonly TempDirectory _root = new("zc-scan");

    public ScanResistanceTests()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The hot-file cache needs Linux.");
    }

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task A_sweep_of_distinct_files_requested_once_leaves_the_hot_set_cached()
    {
        var hot = new byte[HotFiles][];
        for (var i = 0; i < HotFiles; i++)
        {
            hot[i] = File.ReadAllBytes(_root.WriteRandom($"hot/{i}.css", 2048 + i, seed: i));
        }

        for (var i = 0; i < ScannedFiles; i++)
        {
            _root.WriteRandom($"scan/{i}.css", 1024 + i, seed: 1000 + i);
        }

        await using var host = await Hosts.ZeroCopyAsync(HostKind.TestServer, _root, configureBuilder: b => b.Services.AddZeroCopyStaticFiles(o =>
        {
            o.Cache.MaxEntries = MaxEntries;
            o.Cache.MinHits = 1;
        }));
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());

        // The hot set: admitted on first use, then hit.
        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < HotFiles; i++)
            {
                await GetExactAsync(host, $"/hot/{i}.css", hot[i]);
            }
        }

        Assert.Equal(HotFiles, metrics.Total("zerocopy.cache.admissions"));
        Assert.Equal(2 * HotFiles, metrics.Total("zerocopy.cache.hits"));

        // The crawler: every scanned file once.
        for (var i = 0; i < ScannedFiles; i++)
        {
            using var response = await host.Client.GetAsync($"/scan/{i}.css", TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.InRange(metrics.Gauge("zerocopy.cache.entries"), HotFiles, MaxEntries);
        Assert.Equal(0, metrics.Total("zerocopy.cache.evictions"));

        // Every hot file is still a hit.
        var hitsBefore = metrics.Total("zerocopy.cache.hits");
        var missesBefore = metrics.Total("zerocopy.cache.misses");
        for (var i = 0; i < HotFiles; i++)
        {
            await GetExactAsync(host, $"/hot/{i}.css", hot[i]);
        }

        Assert.Equal(hitsBefore + HotFiles, metrics.Total("zerocopy.cache.hits"));
        Assert.Equal(missesBefore, metrics.Total("zerocopy.cache.misses"));

        // A new file asked for twice is more frequent than the swept files in the cache (once each):
        // it displaces some of them (down to 90 % of MaxEntries), no hot file.
        var fresh = File.ReadAllBytes(_root.WriteRandom("new.css", 3000, seed: 7));
        await GetExactAsync(host, "/new.css", fresh);
        await GetExactAsync(host, "/new.css", fresh);
        Assert.Equal(HotFiles + MaxEntries - HotFiles + 1, metrics.Total("zerocopy.cache.admissions"));
        Assert.Equal(MaxEntries / 10, metrics.Total("zerocopy.cache.evictions"));
        hitsBefore = metrics.Total("zerocopy.cache.hits");
        await GetExactAsync(host, "/new.css", fresh);
        for (var i = 0; i < HotFiles; i++)
        {
            await GetExactAsync(host, $"/hot/{i}.css", hot[i]);
        }

        Assert.Equal(hitsBefore + HotFiles + 1, metrics.Total("zerocopy.cache.hits"));
    }

    private static async Task GetExactAsync(TestHost host, string path, byte[] expected)
    {
        using var response = await host.Client.GetAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(expected, await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
    }
}

using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Runtime.Versioning;
using Microsoft.Extensions.DependencyInjection;
using ZeroCopy.AspNetCore.Caching;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Tests.Infrastructure;

namespace ZeroCopy.AspNetCore.Tests.Caching;

/// <summary>
/// The cache's arenas as responses see them: which slot each size gets, what the gauges report,
/// that a freed slot's new bytes never reach a response of the entry it held, and that nothing
/// stays mapped after the host is gone.
/// </summary>
[SupportedOSPlatform("linux")]
[Collection(SerialTests.Name)]
public sealed class ArenaServingTests : IDisposable
{
    private readonly TempDirectory _root = new("zc-arena");

    public ArenaServingTests()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("The hot-file cache needs Linux.");
        }
    }

    public void Dispose() => _root.Dispose();

    private static FileCache CacheOf(TestHost host)
        => (FileCache)Assert.Single(host.Services.GetRequiredService<ZeroCopyMetrics>().Caches);

    private Task<TestHost> StartAsync(HostKind kind, Action<ZeroCopyCacheOptions> cache, long minZeroCopyBytes = ZeroCopyStaticFilesOptions.DefaultMinZeroCopyBytes)
        => Hosts.ZeroCopyAsync(kind, _root, configureBuilder: b => b.Services.AddZeroCopyStaticFiles(o =>
        {
            o.MinZeroCopyBytes = minZeroCopyBytes;
            o.Cache.MinHits = 1;
            cache(o.Cache);
        }));

    [Theory]
    [InlineData(HostKind.Kestrel)]
    [InlineData(HostKind.TestServer)]
    public async Task Each_size_takes_its_class_and_MaxFileBytes_plus_one_keeps_a_descriptor(HostKind kind)
    {
        // Length → slot size (0: no slot; -1: not a copy).
        var sizes = new Dictionary<int, int>
        {
            [0] = 0, [1] = 512, [511] = 512, [512] = 512, [513] = 1024, [1024] = 1024, [1025] = 2048,
            [16_384] = 16_384, [16_385] = 32_768, [20_000] = 32_768, [20_001] = -1,
        };
        foreach (var length in sizes.Keys)
        {
            _root.WriteRandom($"s/{length}.bin", length, seed: length);
        }

        // MinZeroCopyBytes 1 KiB: on Kestrel the larger hits leave with sendfile from the arena.
        await using var host = await StartAsync(kind, c => c.MaxFileBytes = 20_000, minZeroCopyBytes: 1024);
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());
        var ct = TestContext.Current.CancellationToken;
        for (var round = 0; round < 3; round++)
        {
            foreach (var length in sizes.Keys)
            {
                Assert.Equal(File.ReadAllBytes(_root.Combine($"s/{length}.bin")), await host.Client.GetByteArrayAsync($"/s/{length}.bin", ct));
            }
        }

        var cache = CacheOf(host);
        var entries = cache.Entries().ToDictionary(e => (int)e.Version.Length);
        Assert.Equal(sizes.Count, entries.Count);
        foreach (var (length, slotSize) in sizes)
        {
            var entry = entries[length];
            Assert.Equal(slotSize >= 0, entry.IsCopy);
            Assert.Equal(slotSize > 0 ? (int?)slotSize : null, entry.Slot?.Arena.SlotSize);

            // A descriptor for sendfile: a file's own above MaxFileBytes; the arena's for copies of at
            // least MinZeroCopyBytes (1 KiB here) in whole-page slots only.
            Assert.Equal(slotSize < 0 || (length >= 1024 && slotSize >= Environment.SystemPageSize), entry.Handle is not null);
        }

        var payload = sizes.Where(p => p.Value >= 0).Sum(p => (long)p.Key);
        Assert.Equal(payload, metrics.Gauge("zerocopy.cache.bytes"));
        Assert.Equal(cache.ReservedBytes, metrics.Gauge("zerocopy.cache.reserved.bytes"));
        Assert.Equal(2 * sizes.Count, metrics.Total("zerocopy.cache.hits"));
        ArenaProbe.AssertMappingsAreTheArenas(cache, new ZeroCopyCacheOptions().MaxTotalBytes);

        // One arena per class used: 512, 1 K, 2 K, 16 K and 32 K.
        Assert.Equal(5, cache.Arenas.ArenaCount);

        // Every request for a copy (the first one admitted it) is a hot-cache response.
        Assert.True(await Poll.UntilAsync(() => metrics.Responses("hot-cache") == 3 * 10, TimeSpan.FromSeconds(10)), metrics.Dump());
    }

    [Fact]
    public async Task Disposing_the_host_unmaps_every_arena()
    {
        for (var i = 0; i < 40; i++)
        {
            _root.WriteRandom($"d/{i}.bin", 300 + (i * 997), seed: i);
        }

        var host = await StartAsync(HostKind.Kestrel, _ => { }, minZeroCopyBytes: 0);
        var cache = CacheOf(host);
        var ct = TestContext.Current.CancellationToken;
        for (var i = 0; i < 40; i++)
        {
            await host.Client.GetByteArrayAsync($"/d/{i}.bin", ct);
        }

        Assert.True(cache.Arenas.ArenaCount >= 5, $"{cache.Arenas.ArenaCount} arenas");
        Assert.Equal(cache.Arenas.ArenaCount, ArenaProbe.MappingLines(cache.MemfdName));
        await host.DisposeAsync();
        Assert.True(await Poll.UntilAsync(() => ArenaProbe.MappingLines(cache.MemfdName) == 0, TimeSpan.FromSeconds(5)), $"{ArenaProbe.MappingLines(cache.MemfdName)} arena mappings left");
        Assert.Equal(0, cache.Arenas.ArenaCount);
        Assert.Equal(0, cache.ReservedBytes);
    }

    [Fact]
    public async Task A_class_without_an_arena_takes_the_room_of_the_coldest_arenas_of_another_for_a_more_frequent_file()
    {
        // 8 KiB of arenas of MaxTotalBytes / 8 = 1 KiB: sixteen 100-byte files fill eight arenas of
        // two 512 B slots; a 3,000-byte file needs a 4 KiB arena, so four small arenas must go.
        for (var i = 0; i < 16; i++)
        {
            _root.WriteRandom($"small/{i}.txt", 100, seed: i);
        }

        var big = File.ReadAllBytes(_root.WriteRandom("big.bin", 3000, seed: 99));
        await using var host = await StartAsync(HostKind.TestServer, c =>
        {
            c.MaxFileBytes = 4096;
            c.MaxTotalBytes = 8192;
        });
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());
        var cache = CacheOf(host);
        var ct = TestContext.Current.CancellationToken;
        for (var i = 0; i < 16; i++)
        {
            await host.Client.GetByteArrayAsync($"/small/{i}.txt", ct);
        }

        Assert.Equal(8, cache.Arenas.ArenaCount);
        Assert.Equal(8192, cache.ReservedBytes);

        // Files 0-7 (arenas 1-4) hit again: arenas 5-8 are the least recently hit.
        for (var i = 0; i < 8; i++)
        {
            await host.Client.GetByteArrayAsync($"/small/{i}.txt", ct);
        }

        // Asked for once, big.bin is not more frequent than the files of arenas 5-8 (once each):
        // nothing is retired. Asked for twice, it is: those four arenas make room for its own.
        Assert.Equal(big, await host.Client.GetByteArrayAsync("/big.bin", ct));
        Assert.Equal(16, metrics.Total("zerocopy.cache.admissions"));
        Assert.Equal(0, metrics.Total("zerocopy.cache.evictions"));
        Assert.Equal(big, await host.Client.GetByteArrayAsync("/big.bin", ct));

        Assert.Equal(17, metrics.Total("zerocopy.cache.admissions"));
        Assert.Equal(8, metrics.Total("zerocopy.cache.evictions"));
        Assert.Equal(new[] { "/big.bin" }.Concat(Enumerable.Range(0, 8).Select(i => $"/small/{i}.txt")).Order(), cache.Entries().Select(e => e.FilePath).Order());
        Assert.Equal(4096 + (4 * 1024), cache.ReservedBytes);
        ArenaProbe.AssertMappingsAreTheArenas(cache, 8192);
    }

    /// <summary>
    /// 48 files in two classes (1 KiB and 4 KiB slots) share 16 KiB of arenas (MaxTotalBytes): most
    /// admissions evict, retire an arena or are refused, while 24 clients read them, the 4 KiB-class
    /// hits sent by the transport with sendfile from the arena (possibly after their request ended),
    /// and the files are replaced (rename) all the while. Every 200 body must be exactly the version its
    /// ETag (Last-Modified and length; lengths are unique per file and version) names.
    /// </summary>
    [Fact]
    public async Task A_freed_slot_never_serves_its_new_bytes_to_a_response_of_the_entry_it_held()
    {
        const int Files = 48;
        const int Versions = 20;
        const long MaxTotal = 16 * 1024;
        for (var f = 0; f < Files; f++)
        {
            Write(f, 0);
        }

        await using var host = await StartAsync(HostKind.Kestrel, c =>
        {
            c.MaxFileBytes = 4096;
            c.MaxTotalBytes = MaxTotal;
            c.RevalidateAfter = TimeSpan.FromMilliseconds(20);
        }, minZeroCopyBytes: 2048);
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());
        var cache = CacheOf(host);
        var ct = TestContext.Current.CancellationToken;
        var failures = new ConcurrentQueue<string>();
        var checkedBodies = 0;
        var overReserved = 0L;
        using var stop = new CancellationTokenSource();
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 24 };
        using var client = new HttpClient(handler) { BaseAddress = host.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };

        var readers = Enumerable.Range(0, 24).Select(r => Task.Run(async () =>
        {
            var random = new Random(r);
            while (!stop.IsCancellationRequested)
            {
                var f = random.Next(Files);
                using var response = await client.GetAsync($"/a/{f}.bin", ct);
                var body = await response.Content.ReadAsByteArrayAsync(ct);
                if (Check(f, response, body) is { } error)
                {
                    failures.Enqueue(error);
                }

                Interlocked.Increment(ref checkedBodies);
                var reserved = cache.ReservedBytes;
                if (reserved > MaxTotal)
                {
                    Interlocked.Exchange(ref overReserved, reserved);
                }
            }
        }, ct)).ToArray();

        var rewrites = new Random(99);
        for (var step = 0; step < 600 && failures.IsEmpty; step++)
        {
            Write(rewrites.Next(Files), rewrites.Next(1, Versions));
            await Task.Delay(5, ct);
        }

        await stop.CancelAsync();
        await Task.WhenAll(readers);

        Assert.True(failures.IsEmpty, string.Join('\n', failures.Take(10)));
        Assert.Equal(0, Interlocked.Read(ref overReserved));
        Assert.True(checkedBodies > 2000, $"only {checkedBodies} bodies");
        Assert.True(metrics.Total("zerocopy.cache.evictions") > 100, metrics.Dump());
        Assert.True(metrics.Total("zerocopy.cache.admissions") > 200, metrics.Dump());
        Assert.True(metrics.Responses("hot-cache") > 500, metrics.Dump());
        ArenaProbe.AssertMappingsAreTheArenas(cache, MaxTotal);
    }

    /// <summary>File f, version v: its own length (unique per file and version) and bytes.</summary>
    private static int Length(int f, int v) => f % 2 == 0 ? 600 + (f * 8) + v : 2500 + (f * 30) + v;

    private static byte[] Content(int f, int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)((f * 31) + (length * 7) + (i * 13) + (i >> 8));
        }

        return bytes;
    }

    /// <summary>Replaces the file whole (rename), so a reader of the path sees one version or the next.</summary>
    private void Write(int f, int v)
    {
        var temp = _root.Combine($"tmp-{f}-{Guid.NewGuid():N}");
        File.WriteAllBytes(temp, Content(f, Length(f, v)));
        Directory.CreateDirectory(_root.Combine("a"));
        File.Move(temp, _root.Combine($"a/{f}.bin"), overwrite: true);
    }

    private static string? Check(int f, HttpResponseMessage response, byte[] body)
    {
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return $"{f}: status {(int)response.StatusCode}";
        }

        var lastModified = response.Content.Headers.LastModified!.Value;
        var etag = "\"" + (lastModified.ToFileTime() ^ body.Length).ToString("x", CultureInfo.InvariantCulture) + "\"";
        if (response.Headers.ETag?.Tag != etag)
        {
            return $"{f}: ETag {response.Headers.ETag?.Tag} does not name Last-Modified {lastModified:r} and length {body.Length}";
        }

        if (!body.AsSpan().SequenceEqual(Content(f, body.Length)))
        {
            var at = body.AsSpan().CommonPrefixLength(Content(f, body.Length));
            return $"{f}: {body.Length} bytes named by {etag} differ from that version's at byte {at}";
        }

        return null;
    }
}

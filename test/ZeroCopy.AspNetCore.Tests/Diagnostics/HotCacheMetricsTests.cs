using System.Diagnostics.Metrics;
using System.Net;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace ZeroCopy.AspNetCore.Tests.Diagnostics;

/// <summary>
/// What the counters say about hot-cache responses on connections where the zero-copy path cannot
/// be used (TLS, HTTP/2): served by the cache (strategy hot-cache), the reason counted under
/// zerocopy.cache.copies, and nothing under zerocopy.fallbacks, which is kept for bodies read from
/// files.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class HotCacheMetricsTests : IDisposable
{
    private const int Requests = 3;
    private const int CachedLength = 64 * 1024;
    private const int UncachedLength = 256 * 1024;
    private readonly TempDirectory _root = new("zc-hot-metrics");

    public HotCacheMetricsTests()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The hot-file cache and the zero-copy transport need Linux.");
        // Above MinZeroCopyBytes (16 KiB), so its copy could go by sendfile from the arena memfd.
        _root.WriteRandom("cached.bin", CachedLength, seed: 7);
        // Above Cache:MaxFileBytes: kept as a descriptor, its bytes read from the file.
        _root.WriteRandom("large.bin", UncachedLength, seed: 8);
    }

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task Hot_cache_responses_over_tls_and_http2_count_as_hot_cache_with_their_reason_and_not_as_fallbacks()
    {
        using var certificate = TestCertificates.SelfSigned();
        await using var host = await TestHost.StartAsync(
            HostKind.Kestrel,
            _root.Path,
            builder =>
            {
                builder.Services.AddZeroCopyStaticFiles(o =>
                {
                    o.Root = ".";
                    o.Cache.MinHits = 1;
                    o.Cache.MaxFileBytes = 128 * 1024;
                });
                builder.WebHost.ConfigureKestrel(k =>
                {
                    k.Listen(IPAddress.Loopback, 0);
                    k.Listen(IPAddress.Loopback, 0, l =>
                    {
                        l.Protocols = HttpProtocols.Http1AndHttp2;
                        l.UseHttps(certificate);
                    });
                });
            },
            app => app.UseZeroCopyStaticFiles(),
            new TestHostOptions { ListenOnLoopback = false });
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());
        var http = new Uri(host.App.Urls.First(u => u.StartsWith("http://", StringComparison.Ordinal)));
        var https = new Uri(host.App.Urls.First(u => u.StartsWith("https://", StringComparison.Ordinal)));
        // Trusts exactly the test's certificate.
        using var handler = new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == certificate.Thumbprint },
        };
        using var client = new HttpClient(handler);

        // Admitted by the first request (MinHits 1); every later one is a hit.
        await GetAsync(client, new Uri(https, "/cached.bin"), HttpVersion.Version11, CachedLength);
        await GetAsync(client, new Uri(https, "/large.bin"), HttpVersion.Version11, UncachedLength);
        await SettleAsync(metrics, responses: 2);
        var before = Snapshot(metrics);

        for (var i = 0; i < Requests; i++)
        {
            await GetAsync(client, new Uri(https, "/cached.bin"), HttpVersion.Version11, CachedLength);
            await GetAsync(client, new Uri(https, "/cached.bin"), HttpVersion.Version20, CachedLength);
        }

        await SettleAsync(metrics, responses: 2 + (2 * Requests));
        var tlsAndHttp2 = Snapshot(metrics) - before;
        Assert.True(tlsAndHttp2 == new Counts(HotCache: 2 * Requests, Hits: 2 * Requests, CopiesTls: Requests, CopiesHttp2: Requests), $"{tlsAndHttp2}: {metrics.Dump()}");

        // Plain HTTP/1.1: the same copy goes by sendfile from the arena memfd, nothing copied.
        before = Snapshot(metrics);
        await GetAsync(client, new Uri(http, "/cached.bin"), HttpVersion.Version11, CachedLength);
        await SettleAsync(metrics, responses: 3 + (2 * Requests));
        Assert.Equal(new Counts(HotCache: 1, Hits: 1), Snapshot(metrics) - before);

        // A file the cache keeps as a descriptor is read from the file: over TLS that is a fallback.
        before = Snapshot(metrics);
        await GetAsync(client, new Uri(https, "/large.bin"), HttpVersion.Version11, UncachedLength);
        await SettleAsync(metrics, responses: 4 + (2 * Requests));
        Assert.Equal(new Counts(Stream: 1, Hits: 1, FallbacksTls: 1), Snapshot(metrics) - before);
    }

    private async Task GetAsync(HttpClient client, Uri uri, Version version, int length)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, uri) { Version = version, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(version, response.Version);
        var body = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        Assert.Equal(length, body.Length);
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(_root.Combine(uri.AbsolutePath))), SHA256.HashData(body));
    }

    /// <summary>
    /// Waits until <paramref name="responses"/> responses were counted: a body is counted once it
    /// was handed over (a region once the transport sent it), which may be after the client read it.
    /// </summary>
    private static async Task SettleAsync(MetricsCollector metrics, long responses)
        => Assert.True(await Poll.UntilAsync(() => metrics.Total("zerocopy.responses") >= responses, TimeSpan.FromSeconds(10)), $"expected {responses} responses: {metrics.Dump()}");

    private static Counts Snapshot(MetricsCollector metrics) => new(
        HotCache: metrics.Responses("hot-cache"),
        Stream: metrics.Responses("stream"),
        SendFile: metrics.Responses("sendfile"),
        Hits: metrics.Total("zerocopy.cache.hits"),
        CopiesTls: metrics.Get("zerocopy.cache.copies", "tls"),
        CopiesHttp2: metrics.Get("zerocopy.cache.copies", "http2"),
        FallbacksTls: metrics.Fallbacks("tls"),
        FallbacksOther: metrics.Total("zerocopy.fallbacks") - metrics.Fallbacks("tls"));

    private readonly record struct Counts(
        long HotCache = 0,
        long Stream = 0,
        long SendFile = 0,
        long Hits = 0,
        long CopiesTls = 0,
        long CopiesHttp2 = 0,
        long FallbacksTls = 0,
        long FallbacksOther = 0)
    {
        public static Counts operator -(Counts a, Counts b) => new(
            a.HotCache - b.HotCache,
            a.Stream - b.Stream,
            a.SendFile - b.SendFile,
            a.Hits - b.Hits,
            a.CopiesTls - b.CopiesTls,
            a.CopiesHttp2 - b.CopiesHttp2,
            a.FallbacksTls - b.FallbacksTls,
            a.FallbacksOther - b.FallbacksOther);
    }
}

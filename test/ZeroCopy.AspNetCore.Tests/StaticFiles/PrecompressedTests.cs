using System.Diagnostics.Metrics;
using System.IO.Compression;
using System.Net;

namespace ZeroCopy.AspNetCore.Tests.StaticFiles;

/// <summary>app.js.br / app.js.gz are served for app.js to clients that accept them.</summary>
public sealed class PrecompressedTests : IDisposable
{
    private readonly TempDirectory _root = new("zc-precompressed");
    private readonly byte[] _original;
    private readonly byte[] _brotli;
    private readonly byte[] _gzip;

    public PrecompressedTests()
    {
        var text = string.Concat(Enumerable.Range(0, 4000).Select(i => $"console.log({i});\n"));
        _original = File.ReadAllBytes(_root.Write("app.js", text));
        _brotli = Compress(_original, s => new BrotliStream(s, CompressionLevel.SmallestSize));
        _gzip = Compress(_original, s => new GZipStream(s, CompressionLevel.SmallestSize));
        _root.Write("app.js.br", _brotli);
        _root.Write("app.js.gz", _gzip);
        _root.Write("plain.css", "body { color: red }");
    }

    public void Dispose() => _root.Dispose();

    private static byte[] Compress(byte[] data, Func<Stream, Stream> compressor)
    {
        using var output = new MemoryStream();
        using (var stream = compressor(output))
        {
            stream.Write(data);
        }

        return output.ToArray();
    }

    private Task<TestHost> StartAsync(HostKind kind, Action<ZeroCopyStaticFilesOptions>? configure = null)
        => Hosts.ZeroCopyAsync(kind, _root, settings: o =>
        {
            o.MinZeroCopyBytes = 0;
            configure?.Invoke(o);
        });

    private static async Task<HttpResponseMessage> GetAsync(TestHost host, string path, string? acceptEncoding, string? range = null, string? ifNoneMatch = null, HttpMethod? method = null)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, path);
        if (acceptEncoding is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept-Encoding", acceptEncoding);
        }

        if (range is not null)
        {
            request.Headers.TryAddWithoutValidation("Range", range);
        }

        if (ifNoneMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-None-Match", ifNoneMatch);
        }

        return await host.Client.SendAsync(request, TestContext.Current.CancellationToken);
    }

    [Theory]
    [InlineData(HostKind.Kestrel)]
    [InlineData(HostKind.TestServer)]
    public async Task The_best_accepted_encoding_is_served_with_its_own_headers(HostKind kind)
    {
        await using var host = await StartAsync(kind);
        var ct = TestContext.Current.CancellationToken;

        using var br = await GetAsync(host, "/app.js", "gzip, deflate, br");
        using var gzip = await GetAsync(host, "/app.js", "gzip;q=1, br;q=0.5");
        using var identity = await GetAsync(host, "/app.js", null);

        Assert.Equal(_brotli, await br.Content.ReadAsByteArrayAsync(ct));
        Assert.Equal("br", Assert.Single(br.Content.Headers.ContentEncoding));
        Assert.Equal("text/javascript", br.Content.Headers.ContentType?.MediaType);
        Assert.Equal(_brotli.Length, br.Content.Headers.ContentLength);
        Assert.Equal(_gzip, await gzip.Content.ReadAsByteArrayAsync(ct));
        Assert.Equal("gzip", Assert.Single(gzip.Content.Headers.ContentEncoding));
        Assert.Equal(_original, await identity.Content.ReadAsByteArrayAsync(ct));
        Assert.Empty(identity.Content.Headers.ContentEncoding);
        foreach (var response in new[] { br, gzip, identity })
        {
            Assert.Equal("Accept-Encoding", Assert.Single(response.Headers.Vary));
        }

        // A distinct validator per representation.
        Assert.Equal(3, new[] { br.Headers.ETag, gzip.Headers.ETag, identity.Headers.ETag }.Distinct().Count());
    }

    [Theory]
    [InlineData("br;q=0, gzip", "gzip")]
    [InlineData("br;q=0, gzip;q=0", null)]
    [InlineData("*", "br")]
    [InlineData("*;q=0.5, identity", null)]
    [InlineData("zstd", null)]
    [InlineData("BR", "br")]
    public async Task Quality_values_are_honoured(string acceptEncoding, string? expected)
    {
        await using var host = await StartAsync(HostKind.Kestrel);

        using var response = await GetAsync(host, "/app.js", acceptEncoding);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(expected, response.Content.Headers.ContentEncoding.SingleOrDefault());
    }

    [Fact]
    public async Task Identity_q0_is_respected()
    {
        await using var host = await StartAsync(HostKind.Kestrel);

        using var gzipOnly = await GetAsync(host, "/app.js", "identity;q=0, gzip");
        using var nothingAcceptable = await GetAsync(host, "/app.js", "identity;q=0, br;q=0, gzip;q=0");
        using var noSiblings = await GetAsync(host, "/plain.css", "*;q=0");

        Assert.Equal("gzip", Assert.Single(gzipOnly.Content.Headers.ContentEncoding));
        Assert.Equal(HttpStatusCode.NotAcceptable, nothingAcceptable.StatusCode);
        Assert.Equal(HttpStatusCode.NotAcceptable, noSiblings.StatusCode);
    }

    [Fact]
    public async Task Files_without_siblings_are_answered_exactly_as_stock()
    {
        await using var ours = await StartAsync(HostKind.Kestrel);
        await using var stock = await Hosts.StockAsync(HostKind.Kestrel, _root);

        using var oursResponse = await GetAsync(ours, "/plain.css", "gzip, br");
        using var stockResponse = await GetAsync(stock, "/plain.css", "gzip, br");

        Assert.Empty(oursResponse.Headers.Vary);
        Assert.Empty(oursResponse.Content.Headers.ContentEncoding);
        Assert.Equal(stockResponse.Headers.ETag, oursResponse.Headers.ETag);
        Assert.Equal(await stockResponse.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken), await oursResponse.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Ranges_304_and_HEAD_apply_to_the_encoded_representation()
    {
        await using var host = await StartAsync(HostKind.Kestrel);
        var ct = TestContext.Current.CancellationToken;

        using var full = await GetAsync(host, "/app.js", "br");
        using var partial = await GetAsync(host, "/app.js", "br", range: "bytes=10-19");
        using var notModified = await GetAsync(host, "/app.js", "br", ifNoneMatch: full.Headers.ETag!.Tag);
        using var otherEncoding = await GetAsync(host, "/app.js", "gzip", ifNoneMatch: full.Headers.ETag!.Tag);
        using var head = await GetAsync(host, "/app.js", "br", method: HttpMethod.Head);

        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal($"bytes 10-19/{_brotli.Length}", partial.Content.Headers.ContentRange?.ToString());
        Assert.Equal(_brotli.AsSpan(10, 10).ToArray(), await partial.Content.ReadAsByteArrayAsync(ct));
        Assert.Equal("br", Assert.Single(partial.Content.Headers.ContentEncoding));
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Equal("Accept-Encoding", Assert.Single(notModified.Headers.Vary));
        Assert.Equal(HttpStatusCode.OK, otherEncoding.StatusCode);
        Assert.Equal(_brotli.Length, head.Content.Headers.ContentLength);
        Assert.Equal("br", Assert.Single(head.Content.Headers.ContentEncoding));
    }

    [Fact]
    public async Task Siblings_take_the_zero_copy_path_and_the_cache()
    {
        await using var host = await StartAsync(HostKind.Kestrel, o => o.Cache.MinHits = 1);
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());

        for (var i = 0; i < 3; i++)
        {
            using var response = await GetAsync(host, "/app.js", "br");
            Assert.Equal(_brotli, await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        }

        Assert.True(await Poll.UntilAsync(() => metrics.Responses("hot-cache") == 3, TimeSpan.FromSeconds(10)), metrics.Dump());
        Assert.True(metrics.Total("zerocopy.cache.hits") >= 2);
    }

    [Fact]
    public async Task A_cached_file_knows_its_siblings_and_sees_new_ones_within_RevalidateAfter()
    {
        // The file itself is cached with the siblings it had; hits answer from that knowledge
        // without probing the disk, and a revalidation (watcher off, 200 ms window) refreshes it.
        await using var host = await StartAsync(HostKind.Kestrel, o =>
        {
            o.Cache.MinHits = 1;
            o.Cache.RevalidateAfter = TimeSpan.FromMilliseconds(200);
        });
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());
        var ct = TestContext.Current.CancellationToken;

        // Admitted without siblings: hits are the file itself, without Vary, whatever is accepted.
        for (var i = 0; i < 3; i++)
        {
            using var plain = await GetAsync(host, "/plain.css", i == 0 ? null : "gzip, br");
            Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
            Assert.Empty(plain.Headers.Vary);
            Assert.Empty(plain.Content.Headers.ContentEncoding);
        }

        Assert.True(metrics.Total("zerocopy.cache.hits") >= 2, metrics.Dump());
        using (var refused = await GetAsync(host, "/plain.css", "identity;q=0"))
        {
            Assert.Equal(HttpStatusCode.NotAcceptable, refused.StatusCode);
        }

        // A sibling appears: once the window has passed, a client that accepts it gets it, and the
        // file itself varies for everyone.
        var gzip = Compress(File.ReadAllBytes(Path.Combine(_root.Path, "plain.css")), static s => new GZipStream(s, CompressionLevel.SmallestSize));
        _root.Write("plain.css.gz", gzip);
        Assert.True(await Poll.UntilAsync(async () =>
        {
            using var response = await GetAsync(host, "/plain.css", "gzip");
            var body = await response.Content.ReadAsByteArrayAsync(ct);
            return response.Content.Headers.ContentEncoding.SingleOrDefault() == "gzip" && gzip.SequenceEqual(body);
        }, TimeSpan.FromSeconds(10)));
        using (var identity = await GetAsync(host, "/plain.css", null))
        {
            Assert.Empty(identity.Content.Headers.ContentEncoding);
            Assert.Equal("Accept-Encoding", Assert.Single(identity.Headers.Vary));
        }

        // It goes away again: the file itself, without Vary, after the next window.
        File.Delete(Path.Combine(_root.Path, "plain.css.gz"));
        Assert.True(await Poll.UntilAsync(async () =>
        {
            using var response = await GetAsync(host, "/plain.css", "gzip");
            return response.StatusCode == HttpStatusCode.OK && response.Content.Headers.ContentEncoding.Count == 0 && response.Headers.Vary.Count == 0;
        }, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task It_can_be_turned_off_and_encodings_chosen()
    {
        await using (var off = await StartAsync(HostKind.Kestrel, o => o.Precompressed.Enabled = false))
        {
            using var response = await GetAsync(off, "/app.js", "br, gzip");
            Assert.Empty(response.Content.Headers.ContentEncoding);
            Assert.Empty(response.Headers.Vary);
        }

        await using var gzipFirst = await StartAsync(HostKind.Kestrel, o => o.Precompressed.Encodings = ["gzip", "br"]);
        using var preferred = await GetAsync(gzipFirst, "/app.js", "br, gzip");
        Assert.Equal("gzip", Assert.Single(preferred.Content.Headers.ContentEncoding));
    }
}

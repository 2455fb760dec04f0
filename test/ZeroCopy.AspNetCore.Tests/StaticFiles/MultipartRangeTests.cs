using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace ZeroCopy.AspNetCore.Tests.StaticFiles;

/// <summary>
/// Several ranges: 206 multipart/byteranges, parsed back with MultipartReader; each part's bytes
/// take the zero-copy path on the transport.
/// </summary>
public sealed class MultipartRangeTests : IDisposable
{
    private readonly TempDirectory _root = new("zc-multipart");
    private readonly byte[] _content;

    public MultipartRangeTests() => _content = File.ReadAllBytes(_root.WriteRandom("data.txt", 100_000, seed: 31));

    public void Dispose() => _root.Dispose();

    private Task<TestHost> StartAsync(HostKind kind, ZeroCopyMode mode = ZeroCopyMode.Auto, int maxRanges = 16)
        => Hosts.ZeroCopyAsync(kind, _root, settings: o =>
        {
            (o.Mode, o.MinZeroCopyBytes, o.MaxRanges) = (mode, 0, maxRanges);
            o.Cache.Enabled = false;
        });

    private static async Task<HttpResponseMessage> GetAsync(TestHost host, string range, string path = "/data.txt")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.TryAddWithoutValidation("Range", range);
        return await host.Client.SendAsync(request, TestContext.Current.CancellationToken);
    }

    /// <summary>Reads every part: (Content-Range, Content-Type, bytes).</summary>
    internal static async Task<List<(string ContentRange, string? ContentType, byte[] Body)>> ReadPartsAsync(HttpResponseMessage response)
    {
        var mediaType = MediaTypeHeaderValue.Parse(response.Content.Headers.ContentType!.ToString());
        Assert.Equal("multipart/byteranges", mediaType.MediaType.Value);
        var boundary = HeaderUtilities.RemoveQuotes(mediaType.Boundary).Value!;
        var body = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        Assert.Equal(response.Content.Headers.ContentLength, body.Length);
        var reader = new MultipartReader(boundary, new MemoryStream(body));
        var parts = new List<(string, string?, byte[])>();
        while (await reader.ReadNextSectionAsync(TestContext.Current.CancellationToken) is { } section)
        {
            using var copy = new MemoryStream();
            await section.Body.CopyToAsync(copy, TestContext.Current.CancellationToken);
            parts.Add((section.Headers!["Content-Range"].ToString(), section.ContentType, copy.ToArray()));
        }

        return parts;
    }

    [Theory]
    [InlineData(HostKind.Kestrel, ZeroCopyMode.SendFile, "sendfile")]
    [InlineData(HostKind.Kestrel, ZeroCopyMode.Splice, "splice")]
    [InlineData(HostKind.Kestrel, ZeroCopyMode.Stream, "stream")]
    [InlineData(HostKind.TestServer, ZeroCopyMode.Auto, "stream")]
    public async Task Several_ranges_answer_206_multipart_with_each_part_exact(HostKind kind, ZeroCopyMode mode, string strategy)
    {
        await using var host = await StartAsync(kind, mode);
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());

        using var response = await GetAsync(host, "bytes=1000-1099, 0-9, 50000-")

        ;
        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Null(response.Content.Headers.ContentRange);
        Assert.NotNull(response.Headers.ETag);
        var parts = await ReadPartsAsync(response);

        // Ordered and each exact.
        Assert.Equal(3, parts.Count);
        Assert.Equal(("bytes 0-9/100000", "text/plain"), (parts[0].ContentRange, parts[0].ContentType));
        Assert.Equal(_content.AsSpan(0, 10).ToArray(), parts[0].Body);
        Assert.Equal("bytes 1000-1099/100000", parts[1].ContentRange);
        Assert.Equal(_content.AsSpan(1000, 100).ToArray(), parts[1].Body);
        Assert.Equal("bytes 50000-99999/100000", parts[2].ContentRange);
        Assert.Equal(_content.AsSpan(50000).ToArray(), parts[2].Body);
        Assert.True(await Poll.UntilAsync(() => metrics.Bytes(strategy) >= 10 + 100 + 50000, TimeSpan.FromSeconds(10)), metrics.Dump());
    }

    [Fact]
    public async Task Overlapping_and_adjacent_ranges_are_coalesced()
    {
        await using var host = await StartAsync(HostKind.Kestrel);

        using var merged = await GetAsync(host, "bytes=0-99,50-149,150-199");
        using var twoParts = await GetAsync(host, "bytes=500-599,0-9,5-20");

        Assert.Equal(HttpStatusCode.PartialContent, merged.StatusCode);
        Assert.Equal("bytes 0-199/100000", merged.Content.Headers.ContentRange?.ToString());
        Assert.Equal(_content.AsSpan(0, 200).ToArray(), await merged.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        var parts = await ReadPartsAsync(twoParts);
        Assert.Equal(["bytes 0-20/100000", "bytes 500-599/100000"], parts.Select(p => p.ContentRange));
    }

    [Fact]
    public async Task Too_many_ranges_or_more_bytes_than_the_file_answer_the_whole_file()
    {
        await using var host = await StartAsync(HostKind.Kestrel, maxRanges: 4);
        var ct = TestContext.Current.CancellationToken;

        using var tooMany = await GetAsync(host, "bytes=0-0,10-10,20-20,30-30,40-40");
        using var amplified = await GetAsync(host, "bytes=0-,0-,0-");
        using var four = await GetAsync(host, "bytes=0-0,10-10,20-20,30-30");

        Assert.Equal(HttpStatusCode.OK, tooMany.StatusCode);
        Assert.Equal(_content, await tooMany.Content.ReadAsByteArrayAsync(ct));
        Assert.Equal(HttpStatusCode.OK, amplified.StatusCode);
        Assert.Equal(_content, await amplified.Content.ReadAsByteArrayAsync(ct));
        Assert.Equal(4, (await ReadPartsAsync(four)).Count);
    }

    [Fact]
    public async Task Unsatisfiable_parts_are_dropped_and_416_only_when_none_is_left()
    {
        await using var host = await StartAsync(HostKind.Kestrel);

        using var some = await GetAsync(host, "bytes=200000-,0-4,-0");
        using var none = await GetAsync(host, "bytes=200000-,300000-300001");

        Assert.Equal("bytes 0-4/100000", some.Content.Headers.ContentRange?.ToString());
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, none.StatusCode);
        Assert.Equal("bytes */100000", none.Content.Headers.ContentRange?.ToString());
    }

    [Fact]
    public async Task MaxRanges_1_keeps_stock_behaviour_and_stock_answers_200()
    {
        await using var ours = await StartAsync(HostKind.Kestrel, maxRanges: 1);
        await using var stock = await Hosts.StockAsync(HostKind.Kestrel, _root);

        using var oursResponse = await GetAsync(ours, "bytes=0-9,20-29");
        using var stockResponse = await GetAsync(stock, "bytes=0-9,20-29");

        Assert.Equal(HttpStatusCode.OK, oursResponse.StatusCode);
        Assert.Equal(HttpStatusCode.OK, stockResponse.StatusCode);
    }

    [Fact]
    public async Task A_cached_snapshot_serves_parts_from_memory()
    {
        var expected = File.ReadAllBytes(_root.WriteRandom("small.txt", 3000, seed: 2));
        await using var host = await Hosts.ZeroCopyAsync(HostKind.Kestrel, _root, configureBuilder: b => b.Services.AddZeroCopyStaticFiles(o => o.Cache.MinHits = 1));

        await host.Client.GetByteArrayAsync("/small.txt", TestContext.Current.CancellationToken);
        using var response = await GetAsync(host, "bytes=0-1,2990-", "/small.txt");

        var parts = await ReadPartsAsync(response);
        Assert.Equal(expected.AsSpan(0, 2).ToArray(), parts[0].Body);
        Assert.Equal(expected.AsSpan(2990).ToArray(), parts[1].Body);
    }
}

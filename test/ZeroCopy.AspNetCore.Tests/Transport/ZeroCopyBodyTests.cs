using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace ZeroCopy.AspNetCore.Tests.Transport;

/// <summary>
/// Bodies sent by each strategy over real Kestrel with the zero-copy transport (each engine) are
/// byte-exact, and the metrics prove which strategy sent them.
/// </summary>
public sealed class ZeroCopyBodyTests : IClassFixture<ZeroCopyFiles>
{
    private readonly ZeroCopyFiles _files;

    public ZeroCopyBodyTests(ZeroCopyFiles files)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The zero-copy transport needs Linux.");

        _files = files;
    }

    public static TheoryData<ZeroCopyTransportEngine, ZeroCopyMode, string> Strategies => Engines.Cross(
        (ZeroCopyMode.SendFile, "sendfile"),
        (ZeroCopyMode.Splice, "splice"),
        (ZeroCopyMode.Stream, "stream"),
        (ZeroCopyMode.Auto, "sendfile"));

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task Every_size_is_byte_exact_and_sent_by_the_configured_strategy(ZeroCopyTransportEngine engine, ZeroCopyMode mode, string strategy)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var host = await _files.StartAsync(engine, mode);
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());

        foreach (var size in ZeroCopyFiles.Sizes)
        {
            using var response = await host.Client.GetAsync("/" + ZeroCopyFiles.Name(size), HttpCompletionOption.ResponseHeadersRead, ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(size, response.Content.Headers.ContentLength);
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            var hash = await SHA256.HashDataAsync(body, ct);
            Assert.Equal(TempDirectory.Sha256File(_files.Root.Combine(ZeroCopyFiles.Name(size))), Convert.ToHexStringLower(hash));
        }

        var nonEmpty = ZeroCopyFiles.Sizes.Count(s => s > 0);
        var expectedBytes = ZeroCopyFiles.Sizes.Sum();
        // The transport counts a region when its last byte left, just after the client got it.
        Assert.True(await Poll.UntilAsync(() => metrics.Responses(strategy) >= nonEmpty, TimeSpan.FromSeconds(10)), metrics.Dump());
        Assert.Equal(expectedBytes, metrics.Bytes(strategy));
        if (strategy != "stream")
        {
            Assert.Equal(0, metrics.Bytes("stream"));
            Assert.Equal(0, metrics.Fallbacks("kernel-error"));
        }
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task Ranges_beyond_2_to_the_31_and_2_to_the_32_of_a_sparse_5_GiB_file_are_exact(ZeroCopyTransportEngine engine, ZeroCopyMode mode, string strategy)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var host = await _files.StartAsync(engine, mode);
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());

        using (var head = await host.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/sparse.bin"), ct))
        {
            Assert.Equal(ZeroCopyFiles.SparseLength, head.Content.Headers.ContentLength);
        }

        var ranges = new (long Start, int Length)[]
        {
            ((1L << 31) - 1000, 2000),             // crosses 2^31
            ((1L << 32) - 70_000, 140_000),        // crosses 2^32, marker and hole
            ((1L << 32) + 5, 1 << 20),             // past 2^32, mostly hole
            (ZeroCopyFiles.SparseLength - 100_000, 100_000), // the end
        };

        foreach (var (start, length) in ranges)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/sparse.bin");
            request.Headers.Range = new RangeHeaderValue(start, start + length - 1);
            using var response = await host.Client.SendAsync(request, ct);

            Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
            Assert.Equal($"bytes {start}-{start + length - 1}/{ZeroCopyFiles.SparseLength}", response.Content.Headers.ContentRange?.ToString());
            Assert.Equal(_files.SparseSlice(start, length), await response.Content.ReadAsByteArrayAsync(ct));
        }

        Assert.True(await Poll.UntilAsync(() => metrics.Responses(strategy) >= ranges.Length, TimeSpan.FromSeconds(10)), metrics.Dump());
    }
}

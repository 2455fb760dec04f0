using System.Globalization;

namespace ZeroCopy.AspNetCore.Tests.Transport;

/// <summary>
/// File regions sit at their exact place in the output: keep-alive and pipelining keep working,
/// with pipe bytes and region bytes interleaved, on each engine.
/// </summary>
public sealed class KeepAliveAndPipeliningTests : IClassFixture<ZeroCopyFiles>
{
    private readonly ZeroCopyFiles _files;

    public KeepAliveAndPipeliningTests(ZeroCopyFiles files)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The zero-copy transport needs Linux.");

        _files = files;
    }

    public static TheoryData<ZeroCopyTransportEngine, ZeroCopyMode> KernelModes => Engines.Cross(ZeroCopyMode.SendFile, ZeroCopyMode.Splice);

    public static TheoryData<ZeroCopyTransportEngine, ZeroCopyMode> AllModes => Engines.Cross(ZeroCopyMode.SendFile, ZeroCopyMode.Splice, ZeroCopyMode.Stream);

    private Task<TestHost> StartAsync(ZeroCopyTransportEngine engine, ZeroCopyMode mode)
        => _files.StartAsync(engine, mode, minZeroCopyBytes: 1024, after: app => app.MapGet("/plain", () => "plain endpoint"));

    [Theory]
    [MemberData(nameof(KernelModes))]
    public async Task A_thousand_requests_on_one_keep_alive_connection_are_byte_exact(ZeroCopyTransportEngine engine, ZeroCopyMode mode)
    {
        await using var host = await StartAsync(engine, mode);
        await using var connection = await WireClient.ConnectAsync(host.Port, resetIsEnd: true);
        var small = File.ReadAllBytes(_files.Root.Combine("small.bin"));
        var page = File.ReadAllBytes(_files.Root.Combine("page.html"));

        for (var i = 0; i < 1000; i++)
        {
            var (path, expected) = (i % 3) switch
            {
                0 => ("/small.bin", small),
                1 => ("/page.html", page),
                _ => ("/small.bin", small),
            };
            await connection.SendAsync(Wire.Request("GET", path));
            var response = await connection.ReadResponseAsync();

            Assert.Equal(200, response.Status);
            Assert.True(expected.AsSpan().SequenceEqual(response.Body), $"request {i} ({path}) body differs");
        }
    }

    [Theory]
    [MemberData(nameof(AllModes))]
    public async Task Two_hundred_pipelined_mixed_requests_come_back_in_order_and_byte_exact(ZeroCopyTransportEngine engine, ZeroCopyMode mode)
    {
        await using var host = await StartAsync(engine, mode);
        var small = File.ReadAllBytes(_files.Root.Combine("small.bin"));
        var big = File.ReadAllBytes(_files.Root.Combine(ZeroCopyFiles.Name((1 << 20) + 1)));
        string etag;
        using (var first = await host.Client.GetAsync("/small.bin", TestContext.Current.CancellationToken))
        {
            etag = first.Headers.ETag!.Tag;
        }

        var kinds = new[] { "get", "head", "304", "404", "206", "416", "plain", "big" };
        var plan = Enumerable.Range(0, 200).Select(i => kinds[(i * 5 + i / 8) % kinds.Length]).ToArray();
        var requests = string.Concat(plan.Select(kind => kind switch
        {
            "get" => Wire.Request("GET", "/small.bin"),
            "head" => Wire.Request("HEAD", "/small.bin"),
            "304" => Wire.Request("GET", "/small.bin", "If-None-Match: " + etag),
            "404" => Wire.Request("GET", "/missing.bin"),
            "206" => Wire.Request("GET", "/small.bin", "Range: bytes=1000-50999"),
            "416" => Wire.Request("GET", "/small.bin", "Range: bytes=200000-"),
            "plain" => Wire.Request("GET", "/plain"),
            _ => Wire.Request("GET", "/" + ZeroCopyFiles.Name((1 << 20) + 1)),
        }));

        await using var connection = await WireClient.ConnectAsync(host.Port, resetIsEnd: true);
        await connection.SendAsync(requests);

        for (var i = 0; i < plan.Length; i++)
        {
            var kind = plan[i];
            var response = await connection.ReadResponseAsync(noBody: kind == "head");
            var because = $"response {i} ({kind})";
            switch (kind)
            {
                case "get":
                    Assert.True(response.Status == 200 && small.AsSpan().SequenceEqual(response.Body), because);
                    break;
                case "head":
                    Assert.True(response.Status == 200 && response.Header("Content-Length") == "100000", because);
                    break;
                case "304":
                    Assert.True(response.Status == 304 && response.Header("ETag") == etag, because);
                    break;
                case "404":
                    Assert.True(response.Status == 404, because);
                    break;
                case "206":
                    Assert.True(response.Status == 206 && small.AsSpan(1000, 50_000).SequenceEqual(response.Body), because);
                    break;
                case "416":
                    Assert.True(response.Status == 416 && response.Header("Content-Range") == "bytes */100000", because);
                    break;
                case "plain":
                    Assert.True(response.Status == 200 && System.Text.Encoding.UTF8.GetString(response.Body) == "plain endpoint", because);
                    break;
                default:
                    Assert.True(response.Status == 200 && big.AsSpan().SequenceEqual(response.Body), because);
                    break;
            }
        }

        // Still a healthy keep-alive connection.
        await connection.SendAsync(Wire.Request("GET", "/page.html"));
        Assert.Equal(200, (await connection.ReadResponseAsync()).Status);
    }
}

using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.FileProviders;

namespace ZeroCopy.AspNetCore.Tests.Body;

/// <summary>
/// UseZeroCopySendFile: Response.SendFileAsync, and what is built on it (stock UseStaticFiles,
/// Results.File), takes the zero-copy path when eligible and behaves as the server's own otherwise.
/// </summary>
public sealed class SendFileFeatureTests : IDisposable
{
    private readonly TempDirectory _root = new("zc-sendfile");
    private readonly byte[] _content;

    public SendFileFeatureTests()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The zero-copy transport needs Linux.");

        _content = File.ReadAllBytes(_root.WriteRandom("data.bin", 3 << 20, seed: 8));
    }

    public void Dispose() => _root.Dispose();

    private async Task<(TestHost Host, MetricsCollector Metrics)> StartAsync(Action<WebApplication> configure)
    {
        var host = await TestHost.StartAsync(
            HostKind.Kestrel,
            _root.Path,
            b => b.Services.AddZeroCopyStaticFiles(o => o.MinZeroCopyBytes = 0),
            app =>
            {
                app.UseZeroCopySendFile();
                configure(app);
            });
        return (host, new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>()));
    }

    [Fact]
    public async Task Stock_UseStaticFiles_after_it_sends_with_sendfile()
    {
        var (host, metrics) = await StartAsync(app => app.UseStaticFiles(new StaticFileOptions { FileProvider = new PhysicalFileProvider(_root.Path) }));
        await using var _ = host;
        using var __ = metrics;

        Assert.Equal(_content, await host.Client.GetByteArrayAsync("/data.bin", TestContext.Current.CancellationToken));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/data.bin") { Headers = { Range = new RangeHeaderValue(100, 1_000_099) } };
        using var partial = await host.Client.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal(_content.AsSpan(100, 1_000_000).ToArray(), await partial.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));

        Assert.True(await Poll.UntilAsync(() => metrics.Responses("sendfile") == 2, TimeSpan.FromSeconds(10)), metrics.Dump());
        Assert.Equal(_content.Length + 1_000_000L, metrics.Bytes("sendfile"));
    }

    [Fact]
    public async Task Results_File_sends_with_sendfile_including_ranges()
    {
        var path = _root.Combine("data.bin");
        var (host, metrics) = await StartAsync(app => app.MapGet("/download", () => Results.File(path, "application/octet-stream", enableRangeProcessing: true)));
        await using var _ = host;
        using var __ = metrics;

        Assert.Equal(_content, await host.Client.GetByteArrayAsync("/download", TestContext.Current.CancellationToken));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/download") { Headers = { Range = new RangeHeaderValue(null, 5000) } };
        using var partial = await host.Client.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(_content.AsSpan(_content.Length - 5000).ToArray(), await partial.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));

        Assert.True(await Poll.UntilAsync(() => metrics.Responses("sendfile") == 2, TimeSpan.FromSeconds(10)), metrics.Dump());
    }

    [Fact]
    public async Task Without_a_content_length_the_server_sends_it_chunked_and_says_why()
    {
        var path = _root.Combine("data.bin");
        var (host, metrics) = await StartAsync(app => app.Run(context => context.Response.SendFileAsync(path)));
        await using var _ = host;
        using var __ = metrics;

        using var response = await host.Client.GetAsync("/", TestContext.Current.CancellationToken);

        Assert.True(response.Headers.TransferEncodingChunked);
        Assert.Equal(_content, await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.Equal(1, metrics.Fallbacks("no-content-length"));
        Assert.Equal(0, metrics.Responses("sendfile"));
    }

    [Fact]
    public async Task Bytes_written_before_SendFileAsync_come_first()
    {
        var path = _root.Combine("data.bin");
        var (host, metrics) = await StartAsync(app => app.Run(async context =>
        {
            context.Response.ContentLength = 6 + 1000;
            await context.Response.WriteAsync("prefix");
            await context.Response.SendFileAsync(path, 10, 1000);
        }));
        await using var _ = host;
        using var __ = metrics;

        var body = await host.Client.GetByteArrayAsync("/", TestContext.Current.CancellationToken);

        Assert.Equal("prefix"u8.ToArray().Concat(_content.AsSpan(10, 1000).ToArray()), body);
        Assert.True(await Poll.UntilAsync(() => metrics.Responses("sendfile") == 1, TimeSpan.FromSeconds(10)), metrics.Dump());
    }

    [Theory]
    [InlineData(-1L, null)]
    [InlineData(4L << 20, null)]
    [InlineData(0L, 4L << 20)]
    public async Task Invalid_offsets_and_counts_throw_as_the_server_does(long offset, long? count)
    {
        var path = _root.Combine("data.bin");
        Exception? thrown = null;
        var (host, metrics) = await StartAsync(app => app.Run(async context =>
        {
            context.Response.ContentLength = 10;
            try
            {
                await context.Response.SendFileAsync(path, offset, count);
            }
            catch (Exception ex)
            {
                thrown = ex;
                context.Response.StatusCode = 500;
                context.Response.ContentLength = 0;
            }
        }));
        await using var _ = host;
        using var __ = metrics;

        using var response = await host.Client.GetAsync("/", TestContext.Current.CancellationToken);

        Assert.IsType<ArgumentOutOfRangeException>(thrown);
    }

    [Fact]
    public async Task A_missing_file_throws_the_server_s_exception()
    {
        Exception? thrown = null;
        var (host, metrics) = await StartAsync(app => app.Run(async context =>
        {
            try
            {
                await context.Response.SendFileAsync(_root.Combine("missing.bin"));
            }
            catch (Exception ex)
            {
                thrown = ex;
            }
        }));
        await using var _ = host;
        using var __ = metrics;

        await host.Client.GetAsync("/", TestContext.Current.CancellationToken);

        Assert.IsType<FileNotFoundException>(thrown);
    }
}

using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.StaticFiles;

namespace ZeroCopy.AspNetCore.Tests.StaticFiles;

/// <summary>The basic contract of UseZeroCopyStaticFiles, on TestServer and on Kestrel.</summary>
public sealed class ServingTests : IDisposable
{
    private readonly TempDirectory _root = new("zc-serve");

    public void Dispose() => _root.Dispose();

    [Theory]
    [InlineData(HostKind.TestServer)]
    [InlineData(HostKind.Kestrel)]
    public async Task Get_returns_the_file_with_the_stock_header_set(HostKind kind)
    {
        var path = _root.WriteRandom("site/app.js", 70_000, seed: 3);
        var expected = File.ReadAllBytes(path);
        var lastWrite = new DateTimeOffset(2024, 5, 6, 7, 8, 9, 500, TimeSpan.Zero);
        File.SetLastWriteTimeUtc(path, lastWrite.UtcDateTime);
        await using var host = await Hosts.ZeroCopyAsync(kind, _root);

        using var response = await host.Client.GetAsync("/site/app.js", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(expected, await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.Equal("text/javascript", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(70_000, response.Content.Headers.ContentLength);
        Assert.Equal("bytes", Assert.Single(response.Headers.AcceptRanges));
        // Last-Modified is truncated to the second.
        Assert.Equal(new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero), response.Content.Headers.LastModified);
        var truncated = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero);
        var stockETag = "\"" + (truncated.ToFileTime() ^ 70_000L).ToString("x") + "\"";
        Assert.Equal(stockETag, response.Headers.ETag?.Tag);
        Assert.False(response.Headers.ETag!.IsWeak);
    }

    [Theory]
    [InlineData(HostKind.TestServer)]
    [InlineData(HostKind.Kestrel)]
    public async Task Head_returns_the_headers_of_a_get_without_a_body(HostKind kind)
    {
        _root.WriteRandom("data.bin", 4095);
        await using var host = await Hosts.ZeroCopyAsync(kind, _root);

        using var request = new HttpRequestMessage(HttpMethod.Head, "/data.bin");
        request.Headers.Range = new RangeHeaderValue(0, 10);
        using var response = await host.Client.SendAsync(request, TestContext.Current.CancellationToken);

        // Range is ignored for HEAD, as stock does.
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(4095, response.Content.Headers.ContentLength);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("POST")]
    [InlineData("PUT")]
    [InlineData("DELETE")]
    [InlineData("OPTIONS")]
    public async Task Methods_other_than_get_and_head_fall_through_to_the_next_middleware(string method)
    {
        _root.Write("a.txt", "hello");
        await using var host = await Hosts.ZeroCopyAsync(HostKind.TestServer, _root, after: app => app.Run(c => c.Response.WriteAsync("next")));

        using var response = await host.Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), "/a.txt"), TestContext.Current.CancellationToken);

        Assert.Equal("next", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Contains(host.Logs.ForEvent("MethodNotSupported"), r => r.EventId.Id == 1 && r.Message.Contains(method, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_matched_endpoint_is_left_alone()
    {
        _root.Write("a.txt", "from disk");
        await using var host = await Hosts.ZeroCopyAsync(
            HostKind.TestServer,
            _root,
            before: app => app.UseRouting(),
            after: app => app.MapGet("/a.txt", () => "from endpoint"));

        var body = await host.Client.GetStringAsync("/a.txt", TestContext.Current.CancellationToken);

        Assert.Equal("from endpoint", body);
        Assert.Contains(host.Logs.ForEvent("EndpointMatched"), r => r.EventId.Id == 15);
    }

    [Fact]
    public async Task Request_path_prefix_is_matched_by_segment()
    {
        _root.Write("a.txt", "A");
        await using var host = await Hosts.ZeroCopyAsync(HostKind.TestServer, _root, o => o.RequestPath = "/static");

        Assert.Equal("A", await host.Client.GetStringAsync("/static/a.txt", TestContext.Current.CancellationToken));
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("/a.txt", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("/staticx/a.txt", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Contains(host.Logs.ForEvent("PathMismatch"), r => r.EventId.Id == 3);
    }

    [Fact]
    public async Task Unknown_file_types_are_not_served_unless_asked()
    {
        _root.Write("data.unknownext", "x");
        await using (var host = await Hosts.ZeroCopyAsync(HostKind.TestServer, _root))
        {
            Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("/data.unknownext", TestContext.Current.CancellationToken)).StatusCode);
            Assert.Contains(host.Logs.ForEvent("FileTypeNotSupported"), r => r.EventId.Id == 4);
        }

        await using (var host = await Hosts.ZeroCopyAsync(HostKind.TestServer, _root, o =>
        {
            o.ServeUnknownFileTypes = true;
            o.DefaultContentType = "application/x-test";
        }))
        {
            using var response = await host.Client.GetAsync("/data.unknownext", TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("application/x-test", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task A_custom_content_type_provider_is_used()
    {
        _root.Write("a.custom", "x");
        var provider = new FileExtensionContentTypeProvider();
        provider.Mappings[".custom"] = "application/custom";
        await using var host = await Hosts.ZeroCopyAsync(HostKind.TestServer, _root, o => o.ContentTypeProvider = provider);

        using var response = await host.Client.GetAsync("/a.custom", TestContext.Current.CancellationToken);

        Assert.Equal("application/custom", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Missing_files_and_dot_files_fall_through()
    {
        _root.Write(".secret.txt", "no");
        await using var host = await Hosts.ZeroCopyAsync(HostKind.TestServer, _root);

        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("/missing.txt", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("/.secret.txt", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Contains(host.Logs.ForEvent("FileNotFound"), r => r.EventId.Id == 5 && r.Level == LogLevel.Debug);
    }

    [Theory]
    [InlineData(HostKind.TestServer)]
    [InlineData(HostKind.Kestrel)]
    public async Task OnPrepareResponse_callbacks_run_for_every_status_with_the_file(HostKind kind)
    {
        _root.WriteRandom("f.bin", 100);
        var seen = new List<(int Status, string Name)>();
        await using var host = await Hosts.ZeroCopyAsync(kind, _root, o =>
        {
            o.OnPrepareResponse = ctx =>
            {
                lock (seen)
                {
                    seen.Add((ctx.Context.Response.StatusCode, ctx.File.Name));
                }

                ctx.Context.Response.Headers["X-Sync"] = "1";
            };
            o.OnPrepareResponseAsync = async ctx =>
            {
                await Task.Yield();
                ctx.Context.Response.Headers["X-Async"] = "1";
            };
        });

        var etag = (await host.Client.GetAsync("/f.bin", TestContext.Current.CancellationToken)).Headers.ETag!.Tag;
        using var notModified = new HttpRequestMessage(HttpMethod.Get, "/f.bin");
        notModified.Headers.TryAddWithoutValidation("If-None-Match", etag);
        using var r304 = await host.Client.SendAsync(notModified, TestContext.Current.CancellationToken);
        using var failed = new HttpRequestMessage(HttpMethod.Get, "/f.bin");
        failed.Headers.TryAddWithoutValidation("If-Match", "\"other\"");
        using var r412 = await host.Client.SendAsync(failed, TestContext.Current.CancellationToken);
        using var unsatisfiable = new HttpRequestMessage(HttpMethod.Get, "/f.bin");
        unsatisfiable.Headers.TryAddWithoutValidation("Range", "bytes=500-");
        using var r416 = await host.Client.SendAsync(unsatisfiable, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotModified, r304.StatusCode);
        Assert.Equal(HttpStatusCode.PreconditionFailed, r412.StatusCode);
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, r416.StatusCode);
        foreach (var response in new[] { r304, r412, r416 })
        {
            Assert.Equal("1", response.Headers.GetValues("X-Sync").Single());
            Assert.Equal("1", response.Headers.GetValues("X-Async").Single());
        }

        Assert.Equal([200, 304, 412, 416], seen.Select(s => s.Status));
        Assert.All(seen, s => Assert.Equal("f.bin", s.Name));
    }

    [Fact]
    public async Task A_status_set_before_the_middleware_is_kept()
    {
        // Stock (.NET 10) only replaces a 200, so a re-executed error page keeps its status.
        _root.Write("error.html", "<p>sorry</p>");
        await using var host = await Hosts.ZeroCopyAsync(HostKind.TestServer, _root, before: app => app.Use((context, next) =>
        {
            context.Response.StatusCode = 404;
            return next(context);
        }));

        using var response = await host.Client.GetAsync("/error.html", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("<p>sorry</p>", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Served_files_are_logged_with_the_stock_event()
    {
        _root.Write("a.txt", "A");
        await using var host = await Hosts.ZeroCopyAsync(HostKind.TestServer, _root);

        await host.Client.GetStringAsync("/a.txt", TestContext.Current.CancellationToken);

        var served = Assert.Single(host.Logs.ForEvent("FileServed"));
        Assert.Equal(2, served.EventId.Id);
        Assert.Equal(LogLevel.Information, served.Level);
        Assert.Contains(_root.Combine("a.txt"), served.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Https_compression_mode_is_applied_to_the_compression_feature()
    {
        _root.Write("a.txt", "A");
        var feature = new RecordingCompressionFeature();
        await using var host = await Hosts.ZeroCopyAsync(
            HostKind.TestServer,
            _root,
            o => o.HttpsCompression = Microsoft.AspNetCore.Http.Features.HttpsCompressionMode.DoNotCompress,
            before: app => app.Use((context, next) =>
            {
                context.Features.Set<Microsoft.AspNetCore.Http.Features.IHttpsCompressionFeature>(feature);
                return next(context);
            }));

        await host.Client.GetStringAsync("/a.txt", TestContext.Current.CancellationToken);

        Assert.Equal(Microsoft.AspNetCore.Http.Features.HttpsCompressionMode.DoNotCompress, feature.Mode);
    }

    private sealed class RecordingCompressionFeature : Microsoft.AspNetCore.Http.Features.IHttpsCompressionFeature
    {
        public Microsoft.AspNetCore.Http.Features.HttpsCompressionMode Mode { get; set; }
    }
}

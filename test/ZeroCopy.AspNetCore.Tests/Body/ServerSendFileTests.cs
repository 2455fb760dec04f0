using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using ZeroCopy.AspNetCore.Tests.Infrastructure;

namespace ZeroCopy.AspNetCore.Tests.Body;

/// <summary>
/// A response body feature that is not Kestrel's own (IIS, HTTP.sys, a wrapping middleware, a test
/// double) gets its own SendFileAsync called for file bytes, as stock UseStaticFiles does; a
/// FileNotFoundException or DirectoryNotFoundException from it leads to the next middleware (404).
/// </summary>
public sealed class ServerSendFileTests : IDisposable
{
    private readonly TempDirectory _root = new("zc-server-sendfile");
    private readonly byte[] _content;

    public ServerSendFileTests()
    {
        // Above the zero-copy threshold, so on Kestrel the file would otherwise be a region.
        _content = File.ReadAllBytes(_root.WriteRandom("data.bin", 256 * 1024, seed: 12));
    }

    public void Dispose() => _root.Dispose();

    public static TheoryData<HostKind> Kinds => [HostKind.TestServer, HostKind.Kestrel];

    /// <summary>Installs <paramref name="wrap"/> over the server's body feature for every request.</summary>
    private Task<TestHost> StartAsync(HostKind kind, Func<IHttpResponseBodyFeature, IHttpResponseBodyFeature> wrap)
        => Hosts.ZeroCopyAsync(
            kind,
            _root,
            // The hot-file cache stays out: its sealed copies are written to the body writer.
            configureBuilder: b => b.Services.AddZeroCopyStaticFiles(o => o.Cache.Enabled = false),
            before: app => app.Use((context, next) =>
            {
                var server = context.Features.Get<IHttpResponseBodyFeature>()!;
                context.Features.Set(wrap(server));
                return next(context);
            }));

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task A_wrapping_body_feature_gets_its_SendFileAsync_called_with_the_file_range(HostKind kind)
    {
        var calls = new List<(string Path, long Offset, long? Count)>();
        await using var host = await StartAsync(kind, inner => new RecordingBodyFeature(inner, calls));

        using var full = await host.Client.GetAsync("/data.bin", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, full.StatusCode);
        Assert.Equal(_content, await full.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));

        using var request = new HttpRequestMessage(HttpMethod.Get, "/data.bin");
        request.Headers.Range = new RangeHeaderValue(1000, 1999);
        using var partial = await host.Client.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal(_content.AsSpan(1000, 1000).ToArray(), await partial.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));

        var physical = _root.Combine("data.bin");
        Assert.Equal([(physical, 0L, (long?)_content.Length), (physical, 1000L, (long?)1000)], calls);
    }

    public static TheoryData<HostKind, bool> KindsAndMissingDirectory => new()
    {
        { HostKind.TestServer, false },
        { HostKind.TestServer, true },
        { HostKind.Kestrel, false },
        { HostKind.Kestrel, true },
    };

    [Theory]
    [MemberData(nameof(KindsAndMissingDirectory))]
    public async Task A_file_or_directory_not_found_from_the_servers_SendFileAsync_clears_the_response_and_calls_next(HostKind kind, bool directory)
    {
        await using var host = await StartAsync(kind, inner => new ThrowingBodyFeature(inner, () => directory ? new DirectoryNotFoundException("gone") : new FileNotFoundException("gone")));

        using var response = await host.Client.GetAsync("/data.bin", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Null(response.Content.Headers.ContentType);
        Assert.Null(response.Content.Headers.LastModified);
        Assert.Null(response.Headers.ETag);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task A_body_feature_without_a_writer_is_served_through_its_SendFileAsync(HostKind kind)
    {
        var calls = new List<(string Path, long Offset, long? Count)>();
        await using var host = await StartAsync(kind, inner => new WriterlessBodyFeature(inner, calls));

        using var response = await host.Client.GetAsync("/data.bin", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(_content, await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.Single(calls);
    }

    [Fact]
    public async Task Kestrels_own_body_feature_keeps_the_zero_copy_path()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("The zero-copy transport needs Linux.");
        }

        await using var host = await Hosts.ZeroCopyAsync(HostKind.Kestrel, _root, configureBuilder: b => b.Services.AddZeroCopyStaticFiles(o => o.Cache.Enabled = false));
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());

        using var response = await host.Client.GetAsync("/data.bin", TestContext.Current.CancellationToken);

        Assert.Equal(_content, await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.True(await Poll.UntilAsync(() => metrics.Responses("sendfile") == 1, TimeSpan.FromSeconds(10)), metrics.Dump());
        Assert.Equal(0, metrics.Responses("stream"));
    }

    /// <summary>Passes everything through and records SendFileAsync calls.</summary>
    private class RecordingBodyFeature(IHttpResponseBodyFeature inner, List<(string Path, long Offset, long? Count)> calls) : IHttpResponseBodyFeature
    {
        public Stream Stream => inner.Stream;

        public virtual PipeWriter Writer => inner.Writer;

        public void DisableBuffering() => inner.DisableBuffering();

        public Task StartAsync(CancellationToken cancellationToken = default) => inner.StartAsync(cancellationToken);

        public Task CompleteAsync() => inner.CompleteAsync();

        public virtual Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
        {
            lock (calls)
            {
                calls.Add((path, offset, count));
            }

            return inner.SendFileAsync(path, offset, count, cancellationToken);
        }
    }

    /// <summary>A body feature (like some test doubles) that has no PipeWriter.</summary>
    private sealed class WriterlessBodyFeature(IHttpResponseBodyFeature inner, List<(string Path, long Offset, long? Count)> calls) : RecordingBodyFeature(inner, calls)
    {
        public override PipeWriter Writer => null!;
    }

    private sealed class ThrowingBodyFeature(IHttpResponseBodyFeature inner, Func<Exception> exception) : RecordingBodyFeature(inner, [])
    {
        public override Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
            => Task.FromException(exception());
    }
}

using System.Diagnostics.Metrics;
using System.Net;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.FileProviders;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Tests.Body;

/// <summary>
/// Every response that cannot use a file region is streamed byte-exact, and says why (metric tag
/// and debug log).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class FallbackTests : IClassFixture<ZeroCopyFiles>
{
    private const string File = "size-1048577.bin";
    private readonly ZeroCopyFiles _files;
    private readonly byte[] _expected;

    public FallbackTests(ZeroCopyFiles files)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The zero-copy transport needs Linux.");

        _files = files;
        _expected = System.IO.File.ReadAllBytes(files.Root.Combine(File));
    }

    private async Task<(WebApplication App, MetricsCollector Metrics, LogCollector Logs)> StartAsync(Action<KestrelServerOptions> listen, Action<WebApplication>? before = null, Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = _files.Root.Path, EnvironmentName = "Testing" });
        var logs = new LogCollector();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(Microsoft.Extensions.Logging.LogLevel.Debug);
        builder.Logging.AddProvider(logs);
        builder.WebHost.ConfigureKestrel(listen);
        builder.Services.AddZeroCopyStaticFiles(o => o.MinZeroCopyBytes = 0);
        builder.Services.AddResponseCompression();
        services?.Invoke(builder.Services);
        var app = builder.Build();
        before?.Invoke(app);
        app.UseZeroCopyStaticFiles(new StaticFileOptions { FileProvider = new PhysicalFileProvider(_files.Root.Path) });
        var metrics = new MetricsCollector(app.Services.GetRequiredService<IMeterFactory>());
        await app.StartAsync(TestContext.Current.CancellationToken);
        return (app, metrics, logs);
    }

    private static Uri Address(WebApplication app, string scheme)
        => new(app.Urls.First(u => u.StartsWith(scheme + "://", StringComparison.Ordinal)));

    private static async Task StopAsync(WebApplication app, MetricsCollector metrics)
    {
        metrics.Dispose();
        await app.StopAsync(TestContext.Current.CancellationToken);
        await app.DisposeAsync();
    }

    private async Task AssertBodyAsync(HttpClient client, Uri uri)
    {
        var body = await client.GetByteArrayAsync(new Uri(uri, "/" + File), TestContext.Current.CancellationToken);
        Assert.Equal(SHA256.HashData(_expected), SHA256.HashData(body));
    }

    [Fact]
    public async Task Https_on_the_same_transport_streams_with_reason_tls()
    {
        using var certificate = TestCertificates.SelfSigned();
        var (app, metrics, logs) = await StartAsync(k =>
        {
            k.Listen(IPAddress.Loopback, 0);
            k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(certificate));
        });
        try
        {
            using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true };
            using var client = new HttpClient(handler);
            await AssertBodyAsync(client, Address(app, "https"));
            await AssertBodyAsync(client, Address(app, "http"));

            Assert.Equal(1, metrics.Fallbacks("tls"));
            Assert.True(await Poll.UntilAsync(() => metrics.Responses("sendfile") == 1, TimeSpan.FromSeconds(10)), metrics.Dump());
            Assert.Equal(_expected.Length, metrics.Bytes("stream"));
            Assert.Contains(logs.ForEvent("ZeroCopyFallback"), r => r.Message.EndsWith(": tls", StringComparison.Ordinal));
        }
        finally
        {
            await StopAsync(app, metrics);
        }
    }

    [Fact]
    public async Task Http2_prior_knowledge_streams_with_reason_http2()
    {
        var (app, metrics, _) = await StartAsync(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        try
        {
            using var client = new HttpClient
            {
                DefaultRequestVersion = HttpVersion.Version20,
                DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            await AssertBodyAsync(client, Address(app, "http"));

            Assert.Equal(1, metrics.Fallbacks("http2"));
            Assert.Equal(0, metrics.Responses("sendfile"));
        }
        finally
        {
            await StopAsync(app, metrics);
        }
    }

    [Fact]
    public async Task Response_compression_placed_before_streams_with_reason_wrapped_body()
    {
        var (app, metrics, _) = await StartAsync(k => k.Listen(IPAddress.Loopback, 0), before: a => a.UseResponseCompression());
        try
        {
            // ResponseCompression only wraps the body when the request accepts an encoding;
            // application/octet-stream is then left uncompressed, so the bytes stay comparable.
            using var client = new HttpClient(new HttpClientHandler { AutomaticDecompression = DecompressionMethods.None });
            client.DefaultRequestHeaders.AcceptEncoding.ParseAdd("gzip");
            using var response = await client.GetAsync(new Uri(Address(app, "http"), "/" + File), TestContext.Current.CancellationToken);
            Assert.Empty(response.Content.Headers.ContentEncoding);
            Assert.Equal(SHA256.HashData(_expected), SHA256.HashData(await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken)));

            Assert.Equal(1, metrics.Fallbacks("wrapped-body"));
            Assert.Equal(0, metrics.Responses("sendfile"));
        }
        finally
        {
            await StopAsync(app, metrics);
        }
    }

    [Fact]
    public async Task Test_server_streams_with_reason_no_transport()
    {
        await using var host = await Hosts.ZeroCopyAsync(HostKind.TestServer, _files.Root);
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());

        await AssertBodyAsync(host.Client, host.BaseAddress);

        Assert.Equal(1, metrics.Fallbacks("no-transport"));
        Assert.Equal(_expected.Length, metrics.Bytes("stream"));
    }

    [Fact]
    public async Task A_file_system_refusing_sendfile_before_the_first_byte_falls_back_to_splice_then_stream()
    {
        // EINVAL from sendfile (as on file systems without it) on the first call of each response.
        var refuseSendFile = new ScriptedSyscalls(sendFile: Injection.FirstCallsFail(1, Errno.EINVAL));
        var (app, metrics, logs) = await StartAsync(
            k => k.Listen(IPAddress.Loopback, 0),
            services: s => s.Configure<ZeroCopyTransportOptions>(o => o.Syscalls = refuseSendFile));
        try
        {
            using var client = new HttpClient();
            await AssertBodyAsync(client, Address(app, "http"));
            Assert.True(await Poll.UntilAsync(() => metrics.Responses("splice") == 1, TimeSpan.FromSeconds(10)), metrics.Dump());
            Assert.Equal(1, metrics.Fallbacks("kernel-error"));
            Assert.Contains(logs.ForEvent("EngineFallback"), r => r.Message.Contains("sendfile is not supported", StringComparison.Ordinal));
        }
        finally
        {
            await StopAsync(app, metrics);
        }

        // Both refused: the transport copies the region itself, still byte-exact.
        var refuseBoth = new ScriptedSyscalls(sendFile: Injection.FirstCallsFail(1, Errno.EINVAL), spliceFromFile: Injection.FirstCallsFail(1, Errno.EINVAL));
        (app, metrics, _) = await StartAsync(
            k => k.Listen(IPAddress.Loopback, 0),
            services: s => s.Configure<ZeroCopyTransportOptions>(o => o.Syscalls = refuseBoth));
        try
        {
            using var client = new HttpClient();
            await AssertBodyAsync(client, Address(app, "http"));
            Assert.True(await Poll.UntilAsync(() => metrics.Responses("stream") == 1, TimeSpan.FromSeconds(10)), metrics.Dump());
            Assert.Equal(2, metrics.Fallbacks("kernel-error"));
        }
        finally
        {
            await StopAsync(app, metrics);
        }
    }
}

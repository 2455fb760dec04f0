using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.TestHost;

namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

public enum HostKind
{
    /// <summary>In-memory TestServer.</summary>
    TestServer,
    /// <summary>Kestrel on 127.0.0.1, ephemeral port, Kestrel's own socket transport.</summary>
    Kestrel,
}

/// <summary>How <see cref="TestHost"/> builds the application, beyond the kind and the content root.</summary>
public sealed class TestHostOptions
{
    /// <summary>The least level the log collector keeps.</summary>
    public LogLevel MinimumLevel { get; init; } = LogLevel.Trace;

    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Kestrel only: listen on 127.0.0.1:0. False when the caller configures the endpoints itself.</summary>
    public bool ListenOnLoopback { get; init; } = true;
}

/// <summary>
/// A WebApplication for one test: TestServer or Kestrel on 127.0.0.1:0, with logs collected.
/// </summary>
public sealed class TestHost : IAsyncDisposable
{
    private readonly Lazy<HttpClient> _client;
    private int _stopped;

    private TestHost(WebApplication app, LogCollector logs, HostKind kind)
    {
        App = app;
        Logs = logs;
        Kind = kind;
        // Lazy: a host whose endpoints the caller chose (a Unix socket, a handle) may have no
        // address an HttpClient can use; such a caller brings its own client.
        _client = new Lazy<HttpClient>(() => kind == HostKind.TestServer
            ? app.GetTestClient()
            : new HttpClient(new SocketsHttpHandler
            {
                AutomaticDecompression = DecompressionMethods.None,
                UseCookies = false,
                AllowAutoRedirect = false,
            })
            {
                BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()),
                Timeout = TimeSpan.FromSeconds(30),
            });
    }

    public WebApplication App { get; }

    public LogCollector Logs { get; }

    public HostKind Kind { get; }

    public HttpClient Client => _client.Value;

    public Uri BaseAddress => Client.BaseAddress!;

    public int Port => BaseAddress.Port;

    public IServiceProvider Services => App.Services;

    /// <summary>
    /// Builds and starts an application. <paramref name="contentRoot"/> is the content root; its
    /// <c>wwwroot</c> (created if missing) is the web root.
    /// </summary>
    public static Task<TestHost> StartAsync(
        HostKind kind,
        string contentRoot,
        Action<WebApplicationBuilder>? configureBuilder,
        Action<WebApplication> configureApp)
        => StartAsync(kind, contentRoot, configureBuilder, configureApp, new TestHostOptions());

    /// <param name="kind">TestServer or Kestrel.</param>
    /// <param name="contentRoot">Content root (its <c>wwwroot</c> is the web root); null: the process's.</param>
    /// <param name="configureBuilder">Services, Kestrel options, endpoints.</param>
    /// <param name="configureApp">The pipeline.</param>
    /// <param name="options">Log level, shutdown timeout, whether to listen on 127.0.0.1:0.</param>
    public static async Task<TestHost> StartAsync(
        HostKind kind,
        string? contentRoot,
        Action<WebApplicationBuilder>? configureBuilder,
        Action<WebApplication> configureApp,
        TestHostOptions options)
    {
        var applicationOptions = new WebApplicationOptions { EnvironmentName = "Testing" };
        if (contentRoot is not null)
        {
            Directory.CreateDirectory(Path.Combine(contentRoot, "wwwroot"));
            applicationOptions = new WebApplicationOptions { ContentRootPath = contentRoot, WebRootPath = "wwwroot", EnvironmentName = "Testing" };
        }

        var builder = WebApplication.CreateBuilder(applicationOptions);
        var logs = new LogCollector();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(options.MinimumLevel);
        builder.Logging.AddProvider(logs);
        builder.Host.ConfigureHostOptions(o => o.ShutdownTimeout = options.ShutdownTimeout);
        if (kind == HostKind.TestServer)
        {
            builder.WebHost.UseTestServer();
        }
        else if (options.ListenOnLoopback)
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
        }

        configureBuilder?.Invoke(builder);
        var app = builder.Build();
        try
        {
            configureApp(app);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await app.StartAsync(cts.Token);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        return new TestHost(app, logs, kind);
    }

    /// <summary>Graceful shutdown (bounded by <see cref="TestHostOptions.ShutdownTimeout"/>); disposing afterwards does not stop again.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        Interlocked.Exchange(ref _stopped, 1);
        await App.StopAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsValueCreated)
        {
            _client.Value.Dispose();
        }

        try
        {
            if (Interlocked.Exchange(ref _stopped, 1) == 0)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await App.StopAsync(cts.Token);
            }
        }
        finally
        {
            await App.DisposeAsync();
        }
    }
}

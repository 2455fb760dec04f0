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

/// <summary>
/// A WebApplication for one test: TestServer or Kestrel on 127.0.0.1:0, with logs collected.
/// </summary>
public sealed class TestHost : IAsyncDisposable
{
    private TestHost(WebApplication app, LogCollector logs, HostKind kind)
    {
        App = app;
        Logs = logs;
        Kind = kind;
        if (kind == HostKind.TestServer)
        {
            Client = app.GetTestClient();
            BaseAddress = Client.BaseAddress!;
        }
        else
        {
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            BaseAddress = new Uri(address);
            Client = new HttpClient(new SocketsHttpHandler
            {
                AutomaticDecompression = DecompressionMethods.None,
                UseCookies = false,
                AllowAutoRedirect = false,
            })
            {
                BaseAddress = BaseAddress,
                Timeout = TimeSpan.FromSeconds(30),
            };
        }
    }

    public WebApplication App { get; }

    public LogCollector Logs { get; }

    public HostKind Kind { get; }

    public HttpClient Client { get; }

    public Uri BaseAddress { get; }

    public int Port => BaseAddress.Port;

    public IServiceProvider Services => App.Services;

    /// <summary>
    /// Builds and starts an application. <paramref name="contentRoot"/> is the content root; its
    /// <c>wwwroot</c> (created if missing) is the web root.
    /// </summary>
    public static async Task<TestHost> StartAsync(
        HostKind kind,
        string contentRoot,
        Action<WebApplicationBuilder>? configureBuilder,
        Action<WebApplication> configureApp)
    {
        Directory.CreateDirectory(Path.Combine(contentRoot, "wwwroot"));
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ContentRootPath = contentRoot,
            WebRootPath = "wwwroot",
            EnvironmentName = "Testing",
        });
        var logs = new LogCollector();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddProvider(logs);
        builder.Host.ConfigureHostOptions(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        if (kind == HostKind.TestServer)
        {
            builder.WebHost.UseTestServer();
        }
        else
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
        }

        configureBuilder?.Invoke(builder);
        var app = builder.Build();
        configureApp(app);
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return new TestHost(app, logs, kind);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await App.StopAsync(cts.Token);
        await App.DisposeAsync();
    }
}

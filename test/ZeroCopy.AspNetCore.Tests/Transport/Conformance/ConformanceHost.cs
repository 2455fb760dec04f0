using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using ZeroCopy.AspNetCore.Transport;

namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>The transports every conformance scenario runs against.</summary>
public enum TransportKind
{
    /// <summary>Kestrel's own socket transport (no ZeroCopy.AspNetCore services at all).</summary>
    Socket,

    /// <summary>The zero-copy transport on its Sockets engine, installed with <c>UseZeroCopyTransport()</c>.</summary>
    ZeroCopy,

    /// <summary>
    /// The zero-copy transport on its EventLoop engine (<c>Engine = EventLoop</c>); skipped until the
    /// library has the engine (<see cref="Engines.EventLoopAvailable"/>).
    /// </summary>
    EventLoop,
}

/// <summary>What a <see cref="TransportKind"/> stands for.</summary>
public static class TransportKinds
{
    /// <summary>True for the kinds served by the zero-copy transport (either engine).</summary>
    public static bool IsZeroCopy(this TransportKind kind) => kind is TransportKind.ZeroCopy or TransportKind.EventLoop;

    /// <summary>Skips the test when the kind cannot run here (the EventLoop kind before the engine exists).</summary>
    public static void Require(this TransportKind kind)
    {
        if (kind.IsZeroCopy())
        {
            Engines.Require(kind.Engine());
        }
    }

    /// <summary>Each zero-copy kind (one per engine) with each value, for <c>[MemberData]</c>.</summary>
    public static TheoryData<TransportKind, T> ZeroCopyWith<T>(params T[] values)
        => new(new[] { TransportKind.ZeroCopy, TransportKind.EventLoop }.SelectMany(_ => values, static (kind, value) => (kind, value)));

    /// <summary>The engine of a zero-copy kind.</summary>
    public static ZeroCopyTransportEngine Engine(this TransportKind kind) => kind switch
    {
        TransportKind.ZeroCopy => ZeroCopyTransportEngine.Sockets,
        TransportKind.EventLoop => ZeroCopyTransportEngine.EventLoop,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Kestrel's socket transport has no zero-copy engine."),
    };
}

/// <summary>How the zero-copy run installs the transport.</summary>
public enum ZeroCopyRegistration
{
    /// <summary><c>builder.WebHost.UseZeroCopyTransport(options)</c>.</summary>
    UseZeroCopyTransport,

    /// <summary><c>builder.Services.AddZeroCopyTransport()</c>.</summary>
    AddZeroCopyTransport,

    /// <summary><c>builder.Services.AddZeroCopyStaticFiles()</c> (installs the transport too).</summary>
    AddZeroCopyStaticFiles,
}

/// <summary>Where a conformance host listens.</summary>
public abstract record ListenTarget
{
    public static ListenTarget Loopback { get; } = new IpTarget(IPAddress.Loopback);

    public static ListenTarget IPv6Loopback { get; } = new IpTarget(IPAddress.IPv6Loopback);

    public sealed record IpTarget(IPAddress Address, int Port = 0) : ListenTarget;

    /// <summary><c>ListenLocalhost(port)</c>: Kestrel binds 127.0.0.1 and [::1] (dynamic ports are not allowed).</summary>
    public sealed record LocalhostTarget(int Port) : ListenTarget;

    public sealed record UnixTarget(string Path) : ListenTarget;

    /// <summary><c>ListenHandle</c>: an inherited listening socket (systemd-style), bound to <paramref name="EndPoint"/>.</summary>
    public sealed record HandleTarget(ulong Handle, System.Net.IPEndPoint EndPoint) : ListenTarget;
}

/// <summary>Options of one <see cref="ConformanceHost"/>.</summary>
public sealed class HostSettings
{
    public ListenTarget Target { get; set; } = ListenTarget.Loopback;

    public Action<KestrelServerOptions>? Kestrel { get; set; }

    /// <summary>Runs after the host's connection recorder was added (so UseHttps here sits after it).</summary>
    public Action<ListenOptions>? Listen { get; set; }

    public Action<WebApplicationBuilder>? Builder { get; set; }

    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Zero-copy run only: how the transport is installed.</summary>
    public ZeroCopyRegistration Registration { get; set; } = ZeroCopyRegistration.UseZeroCopyTransport;

    /// <summary>Zero-copy run only: transport options (defaults otherwise). The run's engine is set after them.</summary>
    public Action<ZeroCopyTransportOptions>? ZeroCopyOptions { get; set; }

    /// <summary>
    /// Zero-copy run only: select the run's engine with the configuration key
    /// <c>ZeroCopyStaticFiles:Transport:Engine</c> instead of in code.
    /// </summary>
    public bool EngineFromConfiguration { get; set; }

    /// <summary>When set, the endpoint uses TLS with it (after the connection recorder) and the client trusts it.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? Certificate { get; set; }

    /// <summary>The HttpClient's default HTTP version (exact); HTTP/2 without TLS is prior knowledge (h2c).</summary>
    public Version? ClientVersion { get; set; }
}

/// <summary>
/// A Kestrel application on one transport, for the conformance suite. Every accepted connection and
/// every request records which transport (and which engine: the connection's type) served it, so a
/// test can prove the comparison compared the intended transports (<see cref="AssertIntendedTransport"/>).
/// </summary>
public sealed class ConformanceHost : IAsyncDisposable
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _connectionTypes = new(StringComparer.Ordinal);
    private int _zeroCopyConnections;
    private int _socketConnections;
    private int _zeroCopyRequests;
    private int _socketRequests;
    private TestHost? _host;

    private ConformanceHost(TransportKind kind, HostSettings settings)
    {
        Kind = kind;
        Settings = settings;
    }

    public TransportKind Kind { get; }

    public HostSettings Settings { get; }

    public LogCollector Logs => Host.Logs;

    public WebApplication App => Host.App;

    /// <summary>The shared test host under this one: Kestrel, logs from Debug up, endpoints from <see cref="HostSettings.Target"/>.</summary>
    public TestHost Host => _host ?? throw new InvalidOperationException("The host has not started.");

    public HttpClient Client { get; private set; } = null!;

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Where raw clients connect (for <c>localhost</c>: the IPv4 side).</summary>
    public EndPoint EndPoint { get; private set; } = null!;

    public int Port => EndPoint is IPEndPoint ip ? ip.Port : 0;

    public int ConnectionCount => Volatile.Read(ref _zeroCopyConnections) + Volatile.Read(ref _socketConnections);

    public int ZeroCopyConnections => Volatile.Read(ref _zeroCopyConnections);

    public int SocketConnections => Volatile.Read(ref _socketConnections);

    /// <summary>Full names of the <c>ConnectionContext</c> types that served connections, with their counts.</summary>
    public IReadOnlyDictionary<string, int> ConnectionTypes => _connectionTypes;

    /// <summary>Feature type names of the last connection, as seen by connection middleware.</summary>
    public IReadOnlyList<string> LastConnectionFeatures { get; private set; } = [];

    /// <summary>Connection-level facts of the last connection, as seen by connection middleware.</summary>
    public IReadOnlyDictionary<string, string> LastConnectionFacts { get; private set; } = new Dictionary<string, string>();

    public static async Task<ConformanceHost> StartAsync(TransportKind kind, Action<WebApplication> configureApp, Action<HostSettings>? configure = null)
    {
        kind.Require();
        var settings = new HostSettings();
        configure?.Invoke(settings);
        var host = new ConformanceHost(kind, settings);
        host._host = await TestHost.StartAsync(
            HostKind.Kestrel,
            contentRoot: null,
            builder =>
            {
                if (kind.IsZeroCopy())
                {
                    Register(builder, settings, kind.Engine());
                }

                builder.WebHost.ConfigureKestrel(o =>
                {
                    settings.Kestrel?.Invoke(o);
                    host.Listen(o);
                });
                settings.Builder?.Invoke(builder);
            },
            app =>
            {
                app.Use(async (context, next) =>
                {
                    if (context.Features.Get<IZeroCopyConnectionFeature>() is not null)
                    {
                        Interlocked.Increment(ref host._zeroCopyRequests);
                    }
                    else
                    {
                        Interlocked.Increment(ref host._socketRequests);
                    }

                    await next(context);
                });
                configureApp(app);
            },
            new TestHostOptions { MinimumLevel = LogLevel.Debug, ShutdownTimeout = settings.ShutdownTimeout, ListenOnLoopback = false });

        host.ResolveAddresses();
        return host;
    }

    /// <summary>
    /// Installs the transport as <see cref="HostSettings.Registration"/> says, with the engine explicit
    /// (in code after the test's options, or as the configuration key), so a change of the library's
    /// default engine does not change what a kind runs.
    /// </summary>
    private static void Register(WebApplicationBuilder builder, HostSettings settings, ZeroCopyTransportEngine engine)
    {
        Action<ZeroCopyTransportOptions>? options = settings.ZeroCopyOptions;
        if (settings.EngineFromConfiguration)
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["ZeroCopyStaticFiles:Transport:Engine"] = engine.ToString() });
        }
        else
        {
            options = o =>
            {
                settings.ZeroCopyOptions?.Invoke(o);
                o.Engine = engine;
            };
        }

        switch (settings.Registration)
        {
            case ZeroCopyRegistration.AddZeroCopyTransport:
                builder.Services.AddZeroCopyTransport();
                if (options is not null)
                {
                    builder.Services.Configure(options);
                }

                break;
            case ZeroCopyRegistration.AddZeroCopyStaticFiles:
                builder.Services.AddZeroCopyStaticFiles();
                if (options is not null)
                {
                    builder.Services.Configure(options);
                }

                break;
            default:
                builder.WebHost.UseZeroCopyTransport(options);
                break;
        }
    }

    private void Listen(KestrelServerOptions o)
    {
        switch (Settings.Target)
        {
            case ListenTarget.IpTarget ip:
                o.Listen(ip.Address, ip.Port, ConfigureListen);
                break;
            case ListenTarget.LocalhostTarget localhost:
                o.ListenLocalhost(localhost.Port, ConfigureListen);
                break;
            case ListenTarget.UnixTarget unix:
                o.ListenUnixSocket(unix.Path, ConfigureListen);
                break;
            case ListenTarget.HandleTarget handle:
                o.ListenHandle(handle.Handle, ConfigureListen);
                break;
            default:
                throw new InvalidOperationException($"Unknown listen target {Settings.Target}.");
        }
    }

    private void ConfigureListen(ListenOptions listen)
    {
        listen.Use(next => async connection =>
        {
            _connectionTypes.AddOrUpdate(connection.GetType().FullName ?? connection.GetType().Name, 1, static (_, n) => n + 1);
            if (connection.Features.Get<IZeroCopyConnectionFeature>() is not null)
            {
                Interlocked.Increment(ref _zeroCopyConnections);
            }
            else
            {
                Interlocked.Increment(ref _socketConnections);
            }

            LastConnectionFeatures = [.. connection.Features.Select(f => f.Key.FullName ?? f.Key.Name).Distinct().Order(StringComparer.Ordinal)];
            LastConnectionFacts = new Dictionary<string, string>
            {
                ["LocalEndPoint.Type"] = connection.LocalEndPoint?.GetType().Name ?? "null",
                ["RemoteEndPoint.Type"] = connection.RemoteEndPoint?.GetType().Name ?? "null",
                ["ConnectionClosed.CanBeCanceled"] = connection.ConnectionClosed.CanBeCanceled.ToString(),
                ["Items.IsNull"] = (connection.Items is null).ToString(),
                ["Transport.Input.IsNull"] = (connection.Transport.Input is null).ToString(),
                ["IConnectionEndPointFeature"] = (connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionEndPointFeature>() is not null).ToString(),
                ["IConnectionSocketFeature"] = (connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionSocketFeature>() is not null).ToString(),
                ["IMemoryPoolFeature"] = (connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IMemoryPoolFeature>() is not null).ToString(),
                ["IConnectionLifetimeFeature"] = (connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeFeature>() is not null).ToString(),
                ["IPersistentStateFeature"] = (connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IPersistentStateFeature>() is not null).ToString(),
            };
            await next(connection);
        });
        Settings.Listen?.Invoke(listen);
        if (Settings.Certificate is { } certificate)
        {
            listen.UseHttps(certificate);
        }
    }

    private void ResolveAddresses()
    {
        var addresses = App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        var handler = new SocketsHttpHandler
        {
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            AllowAutoRedirect = false,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        };
        if (Settings.Certificate is not null)
        {
            // Trust exactly the test's self-signed certificate.
            var expected = Settings.Certificate.GetCertHashString();
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                certificate is not null && string.Equals(certificate.GetCertHashString(), expected, StringComparison.Ordinal);
        }

        var scheme = Settings.Certificate is null ? "http" : "https";

        switch (Settings.Target)
        {
            case ListenTarget.UnixTarget unix:
                EndPoint = new UnixDomainSocketEndPoint(unix.Path);
                BaseAddress = new Uri($"{scheme}://localhost/");
                handler.ConnectCallback = async (_, token) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    try
                    {
                        await socket.ConnectAsync(new UnixDomainSocketEndPoint(unix.Path), token);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                };
                break;
            case ListenTarget.LocalhostTarget localhost:
                EndPoint = new IPEndPoint(IPAddress.Loopback, localhost.Port);
                BaseAddress = new Uri($"{scheme}://localhost:{localhost.Port}/");
                break;
            case ListenTarget.HandleTarget handle:
                EndPoint = handle.EndPoint;
                BaseAddress = new Uri($"{scheme}://{handle.EndPoint}/");
                break;
            default:
                var uri = new Uri(addresses.First());
                var ip = IPAddress.Parse(uri.Host.Trim('[', ']'));
                EndPoint = new IPEndPoint(ip, uri.Port);
                BaseAddress = new Uri($"{scheme}://{uri.Authority}/");
                break;
        }

        Client = new HttpClient(handler) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (Settings.ClientVersion is { } version)
        {
            Client.DefaultRequestVersion = version;
            Client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }
    }

    /// <summary>A fresh raw HTTP/1.1 connection to <see cref="EndPoint"/>.</summary>
    public Task<WireClient> ConnectAsync() => WireClient.ConnectAsync(EndPoint, bufferSize: 256 * 1024);

    /// <summary>
    /// The comparison is only meaningful if the intended transport served every connection: the
    /// zero-copy transport for <see cref="TransportKind.ZeroCopy"/> and <see cref="TransportKind.EventLoop"/>,
    /// Kestrel's socket transport otherwise; and for the zero-copy kinds the intended engine (the
    /// type of every connection: <see cref="Engines.EventLoopConnectionTypeName"/> or not).
    /// </summary>
    public void AssertIntendedTransport(int minimumConnections = 1)
    {
        var factories = App.Services.GetServices<IConnectionListenerFactory>().Select(f => f.GetType().Name).ToList();
        var zeroCopyRegistered = factories.Contains(nameof(ZeroCopyTransportFactory));
        Assert.True(
            ConnectionCount >= minimumConnections,
            $"{Kind}: expected at least {minimumConnections} accepted connection(s), saw {ConnectionCount}.");
        if (Kind.IsZeroCopy())
        {
            Assert.True(zeroCopyRegistered, "The zero-copy transport factory is not registered.");
            Assert.True(SocketConnections == 0, $"{SocketConnections} connection(s) were served by Kestrel's socket transport in the zero-copy run.");
            Assert.True(Volatile.Read(ref _socketRequests) == 0, $"{_socketRequests} request(s) were served without the zero-copy transport in the zero-copy run.");
            AssertIntendedEngine();
        }
        else
        {
            Assert.False(zeroCopyRegistered, "The zero-copy transport factory is registered in the stock run.");
            Assert.True(ZeroCopyConnections == 0, $"{ZeroCopyConnections} connection(s) were served by the zero-copy transport in the stock run.");
            Assert.True(Volatile.Read(ref _zeroCopyRequests) == 0, $"{_zeroCopyRequests} request(s) were served by the zero-copy transport in the stock run.");
        }
    }

    /// <summary>Every connection of a zero-copy run was served by the kind's engine.</summary>
    public void AssertIntendedEngine()
    {
        var engine = Kind.Engine();
        var types = string.Join(", ", _connectionTypes.Select(t => $"{t.Value} × {t.Key}"));
        Assert.True(
            _connectionTypes.Keys.All(type => Engines.Serves(engine, type)),
            $"{Kind}: connections were not all served by the {engine} engine: {types}.");
    }

    /// <summary>The run counts: the intended transport served it and nothing logged an error.</summary>
    public void AssertClean(int minimumConnections = 1)
    {
        AssertIntendedTransport(minimumConnections);
        AssertNoErrorLogs();
    }

    /// <summary>Error and Critical log records of any category.</summary>
    public IReadOnlyList<LogRecord> ErrorLogs() => [.. Logs.Records.Where(r => r.Level >= LogLevel.Error)];

    public void AssertNoErrorLogs()
    {
        var errors = ErrorLogs();
        Assert.True(errors.Count == 0, $"{Kind}: unexpected error logs:\n" + string.Join("\n", errors.Select(Describe)));
    }

    /// <summary>Log event names of the transport's own category (Kestrel's socket transport or ours).</summary>
    public IReadOnlyList<string> TransportEvents()
    {
        var category = Kind.IsZeroCopy() ? "ZeroCopy.AspNetCore.Transport" : "Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets";
        return [.. Logs.Records.Where(r => r.Category == category).Select(r => r.EventId.Name ?? r.EventId.Id.ToString(System.Globalization.CultureInfo.InvariantCulture))];
    }

    public static string Describe(LogRecord r) => $"[{r.Level}] {r.Category} {r.EventId.Name}: {r.Message} {r.Exception?.GetType().Name}: {r.Exception?.Message}";

    /// <summary>Stops the application (graceful shutdown with <see cref="HostSettings.ShutdownTimeout"/>).</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => Host.StopAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }
}

using System.Globalization;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>
/// Every way of installing the zero-copy transport puts it in front of Kestrel's socket transport,
/// on the engine chosen in code or by the configuration key, and its non-default options do not
/// change what a Kestrel app sees. Also Kestrel's connection limit, which ends surplus connections
/// through the transport's dispose path.
/// </summary>
public sealed class ConfigurationConformanceTests
{
    /// <summary>Each engine (its kind) with each way of installing the transport.</summary>
    public static TheoryData<TransportKind, ZeroCopyRegistration> Registrations() => TransportKinds.ZeroCopyWith(Enum.GetValues<ZeroCopyRegistration>());

    [Theory]
    [MemberData(nameof(Registrations))]
    public async Task Each_registration_serves_connections_with_the_zero_copy_transport(TransportKind kind, ZeroCopyRegistration registration)
    {
        await using var host = await ConformanceHost.StartAsync(kind, BodyConformanceTests.MapEndpoints, s => s.Registration = registration);
        var payload = ConformanceData.Bytes(300_000, seed: 5);
        using var content = new ByteArrayContent(payload);
        using var response = await host.Client.PostAsync("/echo", content, TestContext.Current.CancellationToken);
        Assert.Equal(payload, await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        host.AssertClean();
    }

    /// <summary>
    /// <c>ZeroCopyStaticFiles:Transport:Engine</c> alone (no engine in code) reaches the transport on
    /// every registration path: the connections are the named engine's.
    /// </summary>
    [Theory]
    [MemberData(nameof(Registrations))]
    public async Task The_engine_configuration_key_selects_the_engine_that_serves_connections(TransportKind kind, ZeroCopyRegistration registration)
    {
        await using var host = await ConformanceHost.StartAsync(kind, app => app.MapGet("/ping", () => "pong"), s =>
        {
            s.Registration = registration;
            s.EngineFromConfiguration = true;
        });
        Assert.Equal("pong", await host.Client.GetStringAsync("/ping", TestContext.Current.CancellationToken));
        Assert.Equal(kind.Engine(), host.App.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ZeroCopyTransportOptions>>().Value.Engine);
        host.AssertClean();
    }

    public static TheoryData<TransportKind, string> TunedOptions() => TransportKinds.ZeroCopyWith("no-wait-for-data", "one-io-queue", "unbounded-buffers", "tiny-buffers");

    [Theory]
    [MemberData(nameof(TunedOptions))]
    public async Task Non_default_transport_options_keep_bodies_pipelining_and_aborts_intact(TransportKind kind, string variant)
    {
        await using var host = await ConformanceHost.StartAsync(
            kind,
            app =>
            {
                BodyConformanceTests.MapEndpoints(app);
                app.MapGet("/n/{i}", (int i) => $"n{i}");
            },
            // The zero-copy transport takes its socket tuning from Kestrel's SocketTransportOptions.
            s => s.Builder = builder => builder.Services.Configure<SocketTransportOptions>(o =>
            {
                switch (variant)
                {
                    case "no-wait-for-data":
                        o.WaitForDataBeforeAllocatingBuffer = false;
                        break;
                    case "one-io-queue":
                        o.IOQueueCount = 1;
                        break;
                    case "unbounded-buffers":
                        o.MaxReadBufferSize = null;
                        o.MaxWriteBufferSize = null;
                        break;
                    default:
                        o.MaxReadBufferSize = 4096;
                        o.MaxWriteBufferSize = 4096;
                        break;
                }
            }));

        // Bodies both ways.
        var payload = ConformanceData.Bytes((1024 * 1024) + 1, seed: 9);
        using (var content = new ByteArrayContent(payload))
        {
            using var response = await host.Client.PostAsync("/echo", content, TestContext.Current.CancellationToken);
            var echoed = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
            Assert.True(payload.AsSpan().SequenceEqual(echoed), "echo differs");
        }

        var streamed = await host.Client.GetByteArrayAsync("/stream?size=2000000&mode=writer", TestContext.Current.CancellationToken);
        Assert.True(streamed.AsSpan().SequenceEqual(ConformanceData.Large.AsSpan(0, 2_000_000)), "streamed body differs");

        // Pipelining.
        await using (var client = await host.ConnectAsync())
        {
            await client.SendAsync(string.Concat(Enumerable.Range(0, 50).Select(i => Wire.Request("GET", $"/n/{i}"))));
            for (var i = 0; i < 50; i++)
            {
                Assert.Equal("n" + i.ToString(CultureInfo.InvariantCulture), (await client.ReadResponseAsync()).BodyText);
            }
        }

        // A client reset mid-upload leaves the server healthy.
        await using (var client = await host.ConnectAsync())
        {
            await client.SendAsync(Wire.Request("POST", "/hash", "Content-Length: 10000000"));
            await client.SendAsync(ConformanceData.Large.AsMemory(0, 100_000));
            client.Reset();
        }

        var again = await host.Client.GetByteArrayAsync("/stream?size=1000&mode=body", TestContext.Current.CancellationToken);
        Assert.Equal(1000, again.Length);
        host.AssertIntendedTransport();
        Assert.Empty(host.ErrorLogs().Where(r => r.Category.StartsWith("ZeroCopy", StringComparison.Ordinal)).Select(ConformanceHost.Describe));
    }

    [Fact]
    public Task SocketTransportOptions_configured_by_the_app_apply_identically_on_both_transports()
        => Compare.SameAsync(async kind =>
        {
            // A Kestrel app tuned its transport (UseSockets / Configure<SocketTransportOptions>):
            // Nagle back on, and a custom listen socket factory.
            var created = 0;
            await using var host = await ConformanceHost.StartAsync(
                kind,
                app => app.MapGet("/nodelay", (HttpContext context) => context.Features.Get<IConnectionSocketFeature>()!.Socket.NoDelay.ToString()),
                s => s.Builder = builder => builder.Services.Configure<SocketTransportOptions>(o =>
                {
                    o.NoDelay = false;
                    o.CreateBoundListenSocket = endPoint =>
                    {
                        Interlocked.Increment(ref created);
                        return SocketTransportOptions.CreateDefaultBoundListenSocket(endPoint);
                    };
                }));
            await using var client = await host.ConnectAsync();
            await client.SendAsync(Wire.Request("GET", "/nodelay"));
            var noDelay = (await client.ReadResponseAsync()).BodyText;
            host.AssertIntendedTransport();
            return $"accepted socket NoDelay={noDelay}; CreateBoundListenSocket calls={created}";
        });

    [Fact]
    public Task Connections_over_MaxConcurrentConnections_are_closed_identically_on_both_transports()
        => Compare.SameAsync(async kind =>
        {
            await using var host = await ConformanceHost.StartAsync(
                kind,
                app => app.MapGet("/ping", () => "pong"),
                s => s.Kestrel = o => o.Limits.MaxConcurrentConnections = 1);
            await using var first = await host.ConnectAsync();
            await first.SendAsync(Wire.Request("GET", "/ping"));
            Assert.Equal("pong", (await first.ReadResponseAsync()).BodyText);

            // The first connection is still open: the second one is over the limit.
            await using var second = await host.ConnectAsync();
            await second.SendAsync(Wire.Request("GET", "/ping"));
            var end = await second.ReadToEndAsync(TimeSpan.FromSeconds(10));

            await first.SendAsync(Wire.Request("GET", "/ping"));
            var stillServed = (await first.ReadResponseAsync()).BodyText;
            host.AssertIntendedTransport(minimumConnections: 1);
            Assert.True(host.ErrorLogs().Count == 0, string.Join("\n", host.ErrorLogs().Select(ConformanceHost.Describe)));
            var rejected = host.Logs.Records.Count(r => r.EventId.Name == "ConnectionRejected");
            return $"over the limit: {end}; rejected logs: {rejected}; first connection: {stillServed}";
        });
}

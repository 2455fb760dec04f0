using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using ZeroCopy.AspNetCore.Transport;

namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>
/// Scenario 14: what an application sees of its connection (endpoints, ids, features, the socket,
/// connection items, lifetime notifications, keep-alive timeout) is the same on both transports.
/// </summary>
public sealed class ConnectionFeatureConformanceTests
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task Connection_endpoints_ids_and_socket_feature_describe_the_real_connection(TransportKind kind)
    {
        await using var host = await ConformanceHost.StartAsync(kind, MapEndpoints);
        await using var client = await host.ConnectAsync();
        var clientLocal = (IPEndPoint)client.Socket.LocalEndPoint!;
        var facts = await GetFactsAsync(client);
        var again = await GetFactsAsync(client);

        Assert.Equal(clientLocal.Address.ToString(), facts["RemoteIpAddress"]);
        Assert.Equal(clientLocal.Port.ToString(CultureInfo.InvariantCulture), facts["RemotePort"]);
        Assert.Equal("127.0.0.1", facts["LocalIpAddress"]);
        Assert.Equal(host.Port.ToString(CultureInfo.InvariantCulture), facts["LocalPort"]);
        Assert.Equal($"{clientLocal}", facts["Socket.RemoteEndPoint"]);
        Assert.Equal($"127.0.0.1:{host.Port}", facts["Socket.LocalEndPoint"]);
        Assert.False(string.IsNullOrEmpty(facts["Connection.Id"]));
        Assert.StartsWith(facts["Connection.Id"] + ":", facts["TraceIdentifier"], StringComparison.Ordinal);
        Assert.Equal(facts["Connection.Id"], again["Connection.Id"]);
        Assert.NotEqual(facts["TraceIdentifier"], again["TraceIdentifier"]);
        Assert.Equal("1", facts["Items.Requests"]);
        Assert.Equal("2", again["Items.Requests"]);

        await using var other = await host.ConnectAsync();
        var otherFacts = await GetFactsAsync(other);
        Assert.NotEqual(facts["Connection.Id"], otherFacts["Connection.Id"]);
        Assert.Equal("1", otherFacts["Items.Requests"]);
        host.AssertClean();
        TestContext.Current.TestOutputHelper?.WriteLine($"{kind}: Connection.Id={facts["Connection.Id"]} TraceIdentifier={facts["TraceIdentifier"]}");
    }

    [Fact]
    public Task Request_features_and_connection_socket_options_are_identical_on_both_transports()
        => Compare.SameAsync(async kind =>
        {
            await using var host = await ConformanceHost.StartAsync(kind, MapEndpoints);
            await using var client = await host.ConnectAsync();
            var facts = await GetFactsAsync(client);
            host.AssertIntendedTransport();

            // Values that differ per run (ports, ids) are left out, and so are the two known
            // differences that have their own tests below (IConnectionEndPointFeature, Blocking).
            string[] excluded =
            [
                "RemotePort", "LocalPort", "Socket.RemoteEndPoint", "Socket.LocalEndPoint", "Connection.Id", "TraceIdentifier",
                "IConnectionEndPointFeature", "IConnectionEndPointFeature.RemoteEndPoint", "IConnectionEndPointFeature.LocalEndPoint", "Socket.Blocking",
            ];
            return string.Join("\n", facts.Where(f => !excluded.Contains(f.Key)).OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key}={f.Value}"));
        });

    [Fact]
    public Task Connection_feature_set_seen_by_connection_middleware_is_identical_on_both_transports()
        => Compare.SameAsync(async kind =>
        {
            await using var host = await ConformanceHost.StartAsync(kind, MapEndpoints);
            await using var client = await host.ConnectAsync();
            await GetFactsAsync(client);
            host.AssertIntendedTransport();

            // The zero-copy transport's own marker feature is the only one allowed to differ.
            var connectionFeatures = host.LastConnectionFeatures.Where(f => f != typeof(IZeroCopyConnectionFeature).FullName);
            var connectionFacts = host.LastConnectionFacts.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key}={f.Value}");
            return "features: " + string.Join(", ", connectionFeatures) + "\nfacts: " + string.Join(", ", connectionFacts);
        });

    [Fact]
    public Task Connection_socket_from_IConnectionSocketFeature_has_the_same_blocking_mode_on_both_transports()
        => Compare.SameAsync(async kind =>
        {
            await using var host = await ConformanceHost.StartAsync(kind, MapEndpoints);
            await using var client = await host.ConnectAsync();
            var facts = await GetFactsAsync(client);
            host.AssertIntendedTransport();
            return $"Socket.Blocking={facts["Socket.Blocking"]}";
        });

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task ConnectionClosed_fires_when_the_client_closes_an_idle_connection(TransportKind kind)
    {
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await ConformanceHost.StartAsync(kind, app => app.MapGet("/register", (HttpContext context) =>
        {
            context.Features.Get<IConnectionLifetimeFeature>()!.ConnectionClosed.Register(() => closed.TrySetResult());
            return "registered";
        }));
        await using (var client = await host.ConnectAsync())
        {
            await client.SendAsync(Wire.Request("GET", "/register"));
            Assert.Equal("registered", (await client.ReadResponseAsync()).BodyText);
            Assert.False(closed.Task.IsCompleted);
        }

        await closed.Task.Within(s_wait, "ConnectionClosed after the client closed");
        host.AssertClean();
    }

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task Idle_connection_is_closed_with_FIN_after_the_keep_alive_timeout(TransportKind kind)
    {
        await using var host = await ConformanceHost.StartAsync(
            kind,
            app => app.MapGet("/ping", () => "pong"),
            s => s.Kestrel = o => o.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(1));
        await using var client = await host.ConnectAsync();
        await client.SendAsync(Wire.Request("GET", "/ping"));
        Assert.Equal("pong", (await client.ReadResponseAsync()).BodyText);
        var stopwatch = Stopwatch.StartNew();
        var end = await client.ReadToEndAsync(s_wait);
        Assert.Equal(CloseKind.Fin, end.Kind);
        Assert.Empty(end.Data);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"closed after {stopwatch.Elapsed}");
        host.AssertClean();
    }

    private static async Task<Dictionary<string, string>> GetFactsAsync(WireClient client)
    {
        await client.SendAsync(Wire.Request("GET", "/facts"));
        var response = await client.ReadResponseAsync();
        Assert.Equal(200, response.Status);
        return response.BodyText.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=', 2))
            .ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
    }

    private static void MapEndpoints(WebApplication app)
        => app.MapGet("/facts", (HttpContext context) =>
        {
            var facts = new SortedDictionary<string, string>(StringComparer.Ordinal);
            var connection = context.Connection;
            facts["Connection.Id"] = connection.Id;
            facts["TraceIdentifier"] = context.TraceIdentifier;
            facts["RemoteIpAddress"] = connection.RemoteIpAddress?.ToString() ?? "null";
            facts["RemotePort"] = connection.RemotePort.ToString(CultureInfo.InvariantCulture);
            facts["LocalIpAddress"] = connection.LocalIpAddress?.ToString() ?? "null";
            facts["LocalPort"] = connection.LocalPort.ToString(CultureInfo.InvariantCulture);
            facts["ClientCertificate"] = (connection.ClientCertificate is null) ? "null" : "set";

            var socket = context.Features.Get<IConnectionSocketFeature>()?.Socket;
            facts["IConnectionSocketFeature"] = (socket is not null).ToString();
            if (socket is not null)
            {
                facts["Socket.LocalEndPoint"] = socket.LocalEndPoint?.ToString() ?? "null";
                facts["Socket.RemoteEndPoint"] = socket.RemoteEndPoint?.ToString() ?? "null";
                facts["Socket.AddressFamily"] = socket.AddressFamily.ToString();
                facts["Socket.SocketType"] = socket.SocketType.ToString();
                facts["Socket.ProtocolType"] = socket.ProtocolType.ToString();
                facts["Socket.Connected"] = socket.Connected.ToString();
                facts["Socket.NoDelay"] = socket.NoDelay.ToString();
                facts["Socket.Blocking"] = socket.Blocking.ToString();
                facts["Socket.LingerState"] = $"{socket.LingerState?.Enabled}/{socket.LingerState?.LingerTime}";
                facts["Socket.KeepAlive"] = socket.GetSocketOption(System.Net.Sockets.SocketOptionLevel.Socket, System.Net.Sockets.SocketOptionName.KeepAlive)?.ToString() ?? "null";
            }

            var endPoints = context.Features.Get<IConnectionEndPointFeature>();
            facts["IConnectionEndPointFeature"] = (endPoints is not null).ToString();
            if (endPoints is not null)
            {
                facts["IConnectionEndPointFeature.RemoteEndPoint"] = endPoints.RemoteEndPoint?.ToString() ?? "null";
                facts["IConnectionEndPointFeature.LocalEndPoint"] = endPoints.LocalEndPoint?.ToString() ?? "null";
            }

            var items = context.Features.Get<IConnectionItemsFeature>();
            facts["IConnectionItemsFeature"] = (items is not null).ToString();
            if (items is not null)
            {
                var count = items.Items.TryGetValue("requests", out var value) ? (int)value! + 1 : 1;
                items.Items["requests"] = count;
                facts["Items.Requests"] = count.ToString(CultureInfo.InvariantCulture);
            }

            facts["IConnectionLifetimeFeature"] = (context.Features.Get<IConnectionLifetimeFeature>() is not null).ToString();
            facts["IConnectionLifetimeNotificationFeature"] = (context.Features.Get<IConnectionLifetimeNotificationFeature>() is not null).ToString();
            facts["IConnectionHeartbeatFeature"] = (context.Features.Get<IConnectionHeartbeatFeature>() is not null).ToString();
            facts["IMemoryPoolFeature"] = (context.Features.Get<IMemoryPoolFeature>() is not null).ToString();
            facts["IPersistentStateFeature"] = (context.Features.Get<IPersistentStateFeature>() is not null).ToString();
            facts["IHttpUpgradeFeature.IsUpgradableRequest"] = context.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest.ToString() ?? "null";
            facts["IHttpMinResponseDataRateFeature"] = (context.Features.Get<IHttpMinResponseDataRateFeature>() is not null).ToString();
            facts["IHttpMaxRequestBodySizeFeature.MaxRequestBodySize"] = context.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize?.ToString(CultureInfo.InvariantCulture) ?? "null";
            facts["RequestFeatures"] = string.Join(",", context.Features.Select(f => f.Key.Name).Where(n => n != nameof(IZeroCopyConnectionFeature)).Distinct().Order(StringComparer.Ordinal));
            return string.Concat(facts.Select(f => $"{f.Key}={f.Value}\n"));
        });
}

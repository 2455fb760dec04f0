using System.Runtime.Versioning;
using Microsoft.Extensions.DependencyInjection;
using ZeroCopy.AspNetCore.Tests.Adversarial.Faults;

namespace ZeroCopy.AspNetCore.Tests.Transport.EventLoop;

/// <summary>Issue 15 item 4: the EventLoop engine reports its connections per loop (the disk offload counter: <see cref="DiskOffloadTests"/>).</summary>
[SupportedOSPlatform("linux")]
public sealed class EventLoopMetricsTests : IDisposable
{
    private const string Connections = "zerocopy.transport.connections";
    private readonly TempDirectory _root = new("zc-loop-metrics");

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task The_connections_gauge_of_each_loop_rises_and_falls_with_a_clients_connections()
    {
        Engines.Require(ZeroCopyTransportEngine.EventLoop);
        _root.WriteRandom("f.bin", 1000, seed: 4);
        await using var host = await FaultHosts.StartAsync(
            _root,
            FaultStrategy.SendFile,
            ZeroCopyTransportEngine.EventLoop,
            configure: b => b.Services.Configure<ZeroCopyTransportOptions>(o => o.EventLoopCount = 2));
        using var metrics = FaultHosts.Metrics(host);
        var timeout = TimeSpan.FromSeconds(10);

        Assert.True(await Poll.UntilAsync(() => PerLoop() == (0, 0), timeout), Describe());
        var clients = new List<WireClient>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var client = await WireClient.ConnectAsync(host.Port);
                clients.Add(client);
                // Answered: the connection is accepted and has its loop.
                await client.SendAsync(Wire.Get("/f.bin"));
                Assert.Equal(200, (await client.ReadResponseAsync(timeout: timeout)).Status);
            }

            // The least-loaded hand-off spreads three connections over two loops as 2 + 1.
            Assert.True(await Poll.UntilAsync(() => PerLoop() is (2, 1) or (1, 2), timeout), Describe());

            clients[0].Dispose();
            clients[1].Dispose();
            Assert.True(await Poll.UntilAsync(() => PerLoop() is (1, 0) or (0, 1), timeout), Describe());
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }

        Assert.True(await Poll.UntilAsync(() => PerLoop() == (0, 0), timeout), Describe());

        (long?, long?) PerLoop() => (metrics.Gauge(Connections, "0"), metrics.Gauge(Connections, "1"));

        string Describe() => $"{Connections} per loop: {PerLoop()}";
    }
}

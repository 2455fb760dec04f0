using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>Scenario 12: IPv6 loopback, <c>localhost</c> and Unix domain socket endpoints.</summary>
public sealed partial class BindingConformanceTests
{
    private static void MapWhoAmI(WebApplication app)
        => app.MapGet("/whoami", (HttpContext context) =>
            $"local={context.Connection.LocalIpAddress?.ToString() ?? "null"} remote={context.Connection.RemoteIpAddress?.ToString() ?? "null"} " +
            $"localPortSet={context.Connection.LocalPort != 0} remotePortSet={context.Connection.RemotePort != 0} scheme={context.Request.Scheme} host={context.Request.Host}");

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task IPv6_loopback_endpoint_is_served(TransportKind kind)
    {
        if (!ConformanceData.IPv6LoopbackAvailable())
        {
            Assert.Skip("IPv6 loopback is not available.");
        }

        await using var host = await ConformanceHost.StartAsync(kind, MapWhoAmI, s => s.Target = ListenTarget.IPv6Loopback);
        Assert.Equal(AddressFamily.InterNetworkV6, host.EndPoint.AddressFamily);
        var body = await host.Client.GetStringAsync("/whoami", TestContext.Current.CancellationToken);
        Assert.Equal($"local=::1 remote=::1 localPortSet=True remotePortSet=True scheme=http host=[::1]:{host.Port}", body);
        host.AssertClean();
    }

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task Localhost_endpoint_is_served_on_both_address_families(TransportKind kind)
    {
        var ipv6 = ConformanceData.IPv6LoopbackAvailable();
        await using var host = await StartOnLocalhostAsync(kind);
        var port = host.Port;

        var v4 = await GetOverWireAsync(new IPEndPoint(IPAddress.Loopback, port));
        Assert.Equal("local=127.0.0.1 remote=127.0.0.1 localPortSet=True remotePortSet=True scheme=http host=localhost", v4);
        if (ipv6)
        {
            var v6 = await GetOverWireAsync(new IPEndPoint(IPAddress.IPv6Loopback, port));
            Assert.Equal("local=::1 remote=::1 localPortSet=True remotePortSet=True scheme=http host=localhost", v6);
        }

        var viaName = await host.Client.GetStringAsync("/whoami", TestContext.Current.CancellationToken);
        Assert.EndsWith($"host=localhost:{port}", viaName, StringComparison.Ordinal);
        host.AssertClean(minimumConnections: ipv6 ? 3 : 2);
    }

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task Unix_domain_socket_endpoint_is_served(TransportKind kind)
    {
        if (!Socket.OSSupportsUnixDomainSockets)
        {
            Assert.Skip("Unix domain sockets are not supported here.");
        }

        using var dir = new TempDirectory("zc-uds");
        var path = Path.Combine(dir.Path, "k.sock");
        await using var host = await ConformanceHost.StartAsync(kind, MapWhoAmI, s => s.Target = new ListenTarget.UnixTarget(path));
        var body = await host.Client.GetStringAsync("/whoami", TestContext.Current.CancellationToken);
        Assert.Equal("local=null remote=null localPortSet=False remotePortSet=False scheme=http host=localhost", body);
        var big = await host.Client.GetByteArrayAsync("/whoami", TestContext.Current.CancellationToken);
        Assert.NotEmpty(big);
        host.AssertClean();
    }

    [Fact]
    public Task Unix_domain_socket_lifecycle_is_identical_on_both_transports()
    {
        if (!Socket.OSSupportsUnixDomainSockets)
        {
            Assert.Skip("Unix domain sockets are not supported here.");
        }

        return Compare.SameAsync(async kind =>
        {
            using var dir = new TempDirectory("zc-uds");
            var path = Path.Combine(dir.Path, "k.sock");
            string first;
            await using (var host = await ConformanceHost.StartAsync(kind, MapWhoAmI, s => s.Target = new ListenTarget.UnixTarget(path)))
            {
                first = await host.Client.GetStringAsync("/whoami", TestContext.Current.CancellationToken);
                host.AssertIntendedTransport();
                await host.StopAsync(TestContext.Current.CancellationToken);
            }

            var fileAfterStop = File.Exists(path);

            // A second host on the same path (a restart, with whatever the first one left behind).
            string restart;
            try
            {
                await using var again = await ConformanceHost.StartAsync(kind, MapWhoAmI, s => s.Target = new ListenTarget.UnixTarget(path));
                restart = await again.Client.GetStringAsync("/whoami", TestContext.Current.CancellationToken);
                again.AssertIntendedTransport();
            }
            catch (Exception ex)
            {
                restart = "failed: " + ex.GetType().Name;
            }

            // A stale socket file left by a process that died without cleaning up.
            File.Delete(path);
            Posix.CreateSocketFile(path).Dispose();
            string stale;
            try
            {
                await using var third = await ConformanceHost.StartAsync(kind, MapWhoAmI, s => s.Target = new ListenTarget.UnixTarget(path));
                stale = await third.Client.GetStringAsync("/whoami", TestContext.Current.CancellationToken);
                third.AssertIntendedTransport();
            }
            catch (Exception ex)
            {
                stale = "failed: " + ex.GetType().Name + ": " + ex.InnerException?.GetType().Name;
            }

            return $"first={first}; fileAfterStop={fileAfterStop}; restart={restart}; staleFile={stale}";
        });
    }

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task File_handle_endpoint_is_served_by_Kestrels_socket_transport_even_with_zero_copy_installed(TransportKind kind)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "dup(2) of a socket descriptor is exercised on Linux only.");
        kind.Require(); // Before the dup: a skipped run would leak the descriptor.

        // An inherited listening socket (as systemd passes one): Kestrel takes ownership of the
        // descriptor it is given, so it gets a duplicate and this test keeps (and closes) its own.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(16);
        var duplicate = Dup((int)listener.SafeHandle.DangerousGetHandle());
        Assert.True(duplicate >= 0, $"dup failed: errno {Marshal.GetLastPInvokeError()}");
        var endPoint = (IPEndPoint)listener.LocalEndPoint!;

        await using var host = await ConformanceHost.StartAsync(kind, MapWhoAmI, s => s.Target = new ListenTarget.HandleTarget((ulong)duplicate, endPoint));
        var body = await GetOverWireAsync(endPoint);
        Assert.Equal("local=127.0.0.1 remote=127.0.0.1 localPortSet=True remotePortSet=True scheme=http host=localhost", body);

        // The zero-copy transport declines FileHandleEndPoint (documented): Kestrel's serves it.
        Assert.Equal(1, host.SocketConnections);
        Assert.Equal(0, host.ZeroCopyConnections);
        host.AssertNoErrorLogs();
    }

    [Fact]
    public Task Binding_a_port_already_in_use_fails_identically_on_both_transports()
        => Compare.SameAsync(async kind =>
        {
            using var occupant = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            occupant.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            occupant.Listen(1);
            var port = ((IPEndPoint)occupant.LocalEndPoint!).Port;
            try
            {
                await using var host = await ConformanceHost.StartAsync(kind, MapWhoAmI, s => s.Target = new ListenTarget.IpTarget(IPAddress.Loopback, port));
                return "started";
            }
            catch (Exception ex)
            {
                var message = ex.Message.Replace(port.ToString(System.Globalization.CultureInfo.InvariantCulture), "PORT", StringComparison.Ordinal);
                return $"{ex.GetType().FullName}: {message} (inner {ex.InnerException?.GetType().FullName})";
            }
        });

    [LibraryImport("libc", EntryPoint = "dup", SetLastError = true)]
    private static partial int Dup(int fd);

    private static async Task<ConformanceHost> StartOnLocalhostAsync(TransportKind kind)
    {
        for (var attempt = 1; ; attempt++)
        {
            var port = ConformanceData.FreeLocalhostPort();
            try
            {
                return await ConformanceHost.StartAsync(kind, MapWhoAmI, s => s.Target = new ListenTarget.LocalhostTarget(port));
            }
            catch (IOException) when (attempt < 5)
            {
                // The port was taken between the probe and the bind: try another.
            }
        }
    }

    private static async Task<string> GetOverWireAsync(EndPoint endPoint)
    {
        await using var client = await WireClient.ConnectAsync(endPoint);
        await client.SendAsync(Wire.Request("GET", "/whoami"));
        var response = await client.ReadResponseAsync();
        Assert.Equal(200, response.Status);
        return response.BodyText;
    }
}

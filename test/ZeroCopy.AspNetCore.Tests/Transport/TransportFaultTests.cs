using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Tests.Infrastructure;

namespace ZeroCopy.AspNetCore.Tests.Transport;

/// <summary>
/// What goes wrong mid-transfer: a file truncated under a download, clients resetting, clients too
/// slow for the minimum response data rate.
/// </summary>
[Collection(SerialTests.Name)]
public sealed class TransportFaultTests : IDisposable
{
    private readonly TempDirectory _root = new("zc-faults");

    public TransportFaultTests()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("The zero-copy transport needs Linux.");
        }
    }

    public void Dispose() => _root.Dispose();

    private Task<TestHost> StartAsync(ZeroCopyMode mode, Action<WebApplicationBuilder>? configure = null, Action<WebApplication>? before = null)
        => Hosts.ZeroCopyAsync(
            HostKind.Kestrel,
            _root,
            configureBuilder: b =>
            {
                b.Services.AddZeroCopyStaticFiles(o =>
                {
                    o.Mode = mode;
                    o.MinZeroCopyBytes = 0;
                });
                configure?.Invoke(b);
            },
            before: before);

    /// <summary>A raw client with a small receive buffer, so the server blocks while it does not read.</summary>
    private static async Task<Socket> ConnectSlowAsync(int port, int receiveBuffer)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = receiveBuffer };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), TestContext.Current.CancellationToken);
        return socket;
    }

    private static async Task<int> ReadHeadersAsync(Socket socket, string request)
    {
        await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None);
        var buffer = new byte[1];
        var text = new StringBuilder();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!text.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token) == 0)
            {
                throw new IOException("closed in headers");
            }

            text.Append((char)buffer[0]);
        }

        Assert.StartsWith("HTTP/1.1 200", text.ToString(), StringComparison.Ordinal);
        return text.Length;
    }

    /// <summary>Reads until EOF or reset; returns (bytes, time from the last byte to the close).</summary>
    private static async Task<(long Bytes, TimeSpan LastByteToClose)> ReadToCloseAsync(Socket socket, TimeSpan timeout)
    {
        var buffer = new byte[1 << 20];
        long total = 0;
        var sinceLastByte = Stopwatch.StartNew();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                if (n == 0)
                {
                    break;
                }

                total += n;
                sinceLastByte.Restart();
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
        }

        return (total, sinceLastByte.Elapsed);
    }

    // Every strategy re-checks the file after each transfer: a truncation is a change of version
    // (size and mtime), found before the bytes past the new end are asked for.
    [Theory]
    [InlineData(ZeroCopyMode.SendFile, "RegionFileChanged")]
    [InlineData(ZeroCopyMode.Splice, "RegionFileChanged")]
    [InlineData(ZeroCopyMode.Stream, "FileChanged")]
    public async Task A_file_truncated_during_a_download_closes_the_connection_early_without_a_hang(ZeroCopyMode mode, string warning)
    {
        const long Length = 64L << 20;
        var path = _root.WriteRandom("big.bin", Length, seed: 9);
        await using var host = await StartAsync(mode);
        using var socket = await ConnectSlowAsync(host.Port, 64 * 1024);

        await ReadHeadersAsync(socket, RawHttpConnection.Request("GET", "/big.bin"));
        // Let the server fill the socket buffers and block, then cut the file under it.
        var first = new byte[1 << 20];
        var got = 0;
        while (got < first.Length)
        {
            got += await socket.ReceiveAsync(first.AsMemory(got), SocketFlags.None, TestContext.Current.CancellationToken);
        }

        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            stream.SetLength(8L << 20);
        }

        var (rest, lastByteToClose) = await ReadToCloseAsync(socket, TimeSpan.FromSeconds(30));

        Assert.True(got + rest < Length, $"received {got + rest} of {Length}: the body should end early");
        Assert.True(lastByteToClose < TimeSpan.FromSeconds(1), $"the close came {lastByteToClose} after the last byte");
        Assert.True(await Poll.UntilAsync(() => host.Logs.ForEvent(warning).Any(r => r.Level == LogLevel.Warning), TimeSpan.FromSeconds(5)), warning + " was not logged");
    }

    [Theory]
    [InlineData(ZeroCopyMode.SendFile)]
    [InlineData(ZeroCopyMode.Splice)]
    [InlineData(ZeroCopyMode.Stream)]
    public async Task A_hundred_clients_resetting_at_random_offsets_leave_no_descriptor_and_no_error(ZeroCopyMode mode)
    {
        _root.WriteRandom("big.bin", 16L << 20, seed: 3);
        var unobserved = 0;
        EventHandler<UnobservedTaskExceptionEventArgs> onUnobserved = (_, _) => Interlocked.Increment(ref unobserved);
        TaskScheduler.UnobservedTaskException += onUnobserved;
        try
        {
            await using var host = await StartAsync(mode);
            // Warm up (pools, pipes) before measuring the baseline.
            await host.Client.GetByteArrayAsync("/big.bin", TestContext.Current.CancellationToken);
            var factory = host.Services.GetServices<IConnectionListenerFactory>().OfType<ZeroCopy.AspNetCore.Transport.ZeroCopyTransportFactory>().Single();
            var baseline = Posix.OpenDescriptorCount() - factory.CachedDescriptors;

            var random = new Random(17);
            var offsets = Enumerable.Range(0, 100).Select(_ => random.Next(0, 12 << 20)).ToArray();
            await Task.WhenAll(offsets.Select(async offset =>
            {
                using var socket = await ConnectSlowAsync(host.Port, 256 * 1024);
                await ReadHeadersAsync(socket, RawHttpConnection.Request("GET", "/big.bin"));
                var buffer = new byte[64 * 1024];
                var read = 0;
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                while (read < offset)
                {
                    var n = await socket.ReceiveAsync(buffer.AsMemory(0, Math.Min(buffer.Length, offset - read)), SocketFlags.None, cts.Token);
                    if (n == 0)
                    {
                        break;
                    }

                    read += n;
                }

                // RST, not FIN.
                socket.LingerState = new LingerOption(true, 0);
                socket.Close();
            }));

            Assert.True(
                await Poll.UntilAsync(() => Posix.OpenDescriptorCount() - factory.CachedDescriptors <= baseline + 4, TimeSpan.FromSeconds(5)),
                $"descriptors: {Posix.OpenDescriptorCount()} (cached {factory.CachedDescriptors}), baseline {baseline}: {Posix.DescribeDescriptors()}");

            // The server is healthy.
            Assert.Equal(16L << 20, (await host.Client.GetByteArrayAsync("/big.bin", TestContext.Current.CancellationToken)).Length);
            Assert.DoesNotContain(host.Logs.Records, r => r.Level >= LogLevel.Error);
        }
        finally
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            TaskScheduler.UnobservedTaskException -= onUnobserved;
        }

        Assert.Equal(0, unobserved);
    }

    [Theory]
    [InlineData(ZeroCopyMode.SendFile)]
    [InlineData(ZeroCopyMode.Splice)]
    public async Task A_client_too_slow_for_the_minimum_data_rate_is_cut_while_a_healthy_one_and_an_exempt_one_are_not(ZeroCopyMode mode)
    {
        const long Length = 10L << 20;
        var expected = File.ReadAllBytes(_root.WriteRandom("big.bin", Length, seed: 4));
        await using var host = await StartAsync(
            mode,
            b => b.WebHost.ConfigureKestrel(k => k.Limits.MinResponseDataRate = new MinDataRate(bytesPerSecond: 2 << 20, gracePeriod: TimeSpan.FromSeconds(2))),
            before: app => app.Use((context, next) =>
            {
                // The per-request override is respected: this path has no minimum rate.
                if (context.Request.Path.StartsWithSegments("/exempt", out var rest))
                {
                    context.Features.Get<IHttpMinResponseDataRateFeature>()!.MinDataRate = null;
                    context.Request.Path = rest;
                }

                return next(context);
            }));

        // 10 MiB at 2 MiB/s: a region gets max(2 s, 5 s) = 5 s, as Kestrel allows a write.
        using var slow = await ConnectSlowAsync(host.Port, 8 * 1024);
        using var exempt = await ConnectSlowAsync(host.Port, 8 * 1024);
        var stopwatch = Stopwatch.StartNew();
        await ReadHeadersAsync(slow, RawHttpConnection.Request("GET", "/big.bin"));
        await ReadHeadersAsync(exempt, RawHttpConnection.Request("GET", "/exempt/big.bin"));

        var healthy = await host.Client.GetByteArrayAsync("/big.bin", TestContext.Current.CancellationToken);
        Assert.Equal(expected, healthy);

        // Read about 1 KB/s from both slow clients until the server cuts one (or 15 s pass). The
        // client still holds what its receive buffer got, so the cut is observed in the server log.
        var exemptBody = new MemoryStream();
        var buffer = new byte[1024];
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        while (!host.Logs.ForEvent("RegionRateTooSlow").Any() && stopwatch.Elapsed < TimeSpan.FromSeconds(15))
        {
            await tick.WaitForNextTickAsync(TestContext.Current.CancellationToken);
            await ReadSomeAsync(slow, buffer.AsMemory(0, 256));
            var n = await ReadSomeAsync(exempt, buffer.AsMemory(0, 256));
            exemptBody.Write(buffer, 0, n);
        }

        var cutAfter = stopwatch.Elapsed;
        Assert.True(cutAfter > TimeSpan.FromSeconds(4) && cutAfter < TimeSpan.FromSeconds(9), $"cut after {cutAfter}");
        Assert.Single(host.Logs.ForEvent("RegionRateTooSlow"));

        // The slow client's body ends early; the exempt client gets everything, byte-exact.
        var (slowRest, _) = await ReadToCloseAsync(slow, TimeSpan.FromSeconds(10));
        Assert.True(slowRest < Length, "the slow client received the whole body");
        var rest = new byte[Length - exemptBody.Length];
        var got = 0;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (got < rest.Length)
        {
            var n = await exempt.ReceiveAsync(rest.AsMemory(got), SocketFlags.None, cts.Token);
            Assert.True(n > 0, $"the exempt client was cut after {exemptBody.Length + got} bytes");
            got += n;
        }

        exemptBody.Write(rest);
        Assert.Equal(expected, exemptBody.ToArray());
    }

    /// <returns>Bytes read; 0 when the connection was closed or reset.</returns>
    private static async Task<int> ReadSomeAsync(Socket socket, Memory<byte> buffer)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            return await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
        }
        catch (SocketException)
        {
            return 0;
        }
    }
}

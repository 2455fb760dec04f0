using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace ZeroCopy.AspNetCore.Tests.Transport;

/// <summary>
/// What goes wrong mid-transfer, on each engine: a file truncated under a download, clients
/// resetting, clients too slow for the minimum response data rate.
/// </summary>
[Collection(SerialTests.Name)]
public sealed class TransportFaultTests : IDisposable
{
    private readonly TempDirectory _root = new("zc-faults");

    public TransportFaultTests()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The zero-copy transport needs Linux.");
    }

    public void Dispose() => _root.Dispose();

    public static TheoryData<ZeroCopyTransportEngine, ZeroCopyMode, string> Truncations => Engines.Cross(
        (ZeroCopyMode.SendFile, "RegionFileChanged"),
        (ZeroCopyMode.Splice, "RegionFileChanged"),
        (ZeroCopyMode.Stream, "FileChanged"));

    public static TheoryData<ZeroCopyTransportEngine, ZeroCopyMode> AllModes => Engines.Cross(ZeroCopyMode.SendFile, ZeroCopyMode.Splice, ZeroCopyMode.Stream);

    public static TheoryData<ZeroCopyTransportEngine, ZeroCopyMode> KernelModes => Engines.Cross(ZeroCopyMode.SendFile, ZeroCopyMode.Splice);

    private Task<TestHost> StartAsync(ZeroCopyTransportEngine engine, ZeroCopyMode mode, Action<WebApplicationBuilder>? configure = null, Action<WebApplication>? before = null)
        => Hosts.ZeroCopyAsync(
            HostKind.Kestrel,
            _root,
            configureBuilder: builder =>
            {
                Engines.Use(builder, engine);
                configure?.Invoke(builder);
            },
            before: before,
            settings: o => (o.Mode, o.MinZeroCopyBytes) = (mode, 0));

    /// <summary>A raw client with a small receive buffer, so the server blocks while it does not read.</summary>
    private static Task<WireClient> ConnectSlowAsync(int port, int receiveBuffer, int bufferSize = WireClient.DefaultBufferSize)
        => WireClient.ConnectAsync(port, receiveBuffer, bufferSize);

    private static async Task ReadHeadersAsync(WireClient client, string request)
    {
        await client.SendAsync(request);
        var head = await client.ReadHeadAsync(TimeSpan.FromSeconds(30));
        Assert.StartsWith("HTTP/1.1 200", head.Head, StringComparison.Ordinal);
    }

    /// <summary>Reads until EOF or reset; returns (bytes, time from the last byte to the close).</summary>
    private static async Task<(long Bytes, TimeSpan LastByteToClose)> ReadToCloseAsync(WireClient client, TimeSpan timeout)
    {
        var sinceLastByte = Stopwatch.StartNew();
        var read = await client.ReadBodyAsync(long.MaxValue, _ => sinceLastByte.Restart(), timeout);
        Assert.True(read.End is BodyEnd.Fin or BodyEnd.Reset, read.ToString());
        return (read.Bytes, sinceLastByte.Elapsed);
    }

    // Every strategy re-checks the file after each transfer: a truncation is a change of version
    // (size and mtime), found before the bytes past the new end are asked for.
    [Theory]
    [MemberData(nameof(Truncations))]
    public async Task A_file_truncated_during_a_download_closes_the_connection_early_without_a_hang(ZeroCopyTransportEngine engine, ZeroCopyMode mode, string warning)
    {
        Engines.Require(engine);
        const long Length = 64L << 20;
        var path = _root.WriteRandom("big.bin", Length, seed: 9);
        await using var host = await StartAsync(engine, mode);
        using var client = await ConnectSlowAsync(host.Port, 64 * 1024);

        await ReadHeadersAsync(client, Wire.Request("GET", "/big.bin"));
        // Let the server fill the socket buffers and block, then cut the file under it.
        var first = await client.ReadBodyAsync(1 << 20, null, TimeSpan.FromSeconds(30));
        Assert.Equal(BodyEnd.Complete, first.End);
        var got = first.Bytes;

        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            stream.SetLength(8L << 20);
        }

        var (rest, lastByteToClose) = await ReadToCloseAsync(client, TimeSpan.FromSeconds(30));

        Assert.True(got + rest < Length, $"received {got + rest} of {Length}: the body should end early");
        Assert.True(lastByteToClose < TimeSpan.FromSeconds(1), $"the close came {lastByteToClose} after the last byte");
        Assert.True(await Poll.UntilAsync(() => host.Logs.ForEvent(warning).Any(r => r.Level == LogLevel.Warning), TimeSpan.FromSeconds(5)), warning + " was not logged");
    }

    [Theory]
    [MemberData(nameof(AllModes))]
    public async Task A_hundred_clients_resetting_at_random_offsets_leave_no_descriptor_and_no_error(ZeroCopyTransportEngine engine, ZeroCopyMode mode)
    {
        Engines.Require(engine);
        _root.WriteRandom("big.bin", 16L << 20, seed: 3);
        using var unobserved = new UnobservedTaskExceptions();
        try
        {
            await using var host = await StartAsync(engine, mode);
            // Warm up (pools, pipes) before measuring the baseline.
            await host.Client.GetByteArrayAsync("/big.bin", TestContext.Current.CancellationToken);
            var factory = host.Services.GetServices<IConnectionListenerFactory>().OfType<ZeroCopy.AspNetCore.Transport.ZeroCopyTransportFactory>().Single();
            var baseline = Posix.OpenDescriptorCount() - factory.CachedDescriptors;

            var random = new Random(17);
            var offsets = Enumerable.Range(0, 100).Select(_ => random.Next(0, 12 << 20)).ToArray();
            await Task.WhenAll(offsets.Select(async offset =>
            {
                using var client = await ConnectSlowAsync(host.Port, 256 * 1024);
                await ReadHeadersAsync(client, Wire.Request("GET", "/big.bin"));
                var read = await client.ReadBodyAsync(offset, null, TimeSpan.FromSeconds(30));
                Assert.True(read.End is BodyEnd.Complete or BodyEnd.Fin, read.ToString());

                // RST, not FIN.
                client.Reset();
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
            unobserved.Collect();
        }

        Assert.Equal(0, unobserved.Count);
    }

    [Theory]
    [MemberData(nameof(KernelModes))]
    public async Task A_client_too_slow_for_the_minimum_data_rate_is_cut_while_a_healthy_one_and_an_exempt_one_are_not(ZeroCopyTransportEngine engine, ZeroCopyMode mode)
    {
        Engines.Require(engine);
        const long Length = 10L << 20;
        var expected = File.ReadAllBytes(_root.WriteRandom("big.bin", Length, seed: 4));
        await using var host = await StartAsync(
            engine,
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
        // A 256-byte client buffer: each read takes no more from the kernel than it asks for.
        using var slow = await ConnectSlowAsync(host.Port, 8 * 1024, bufferSize: 256);
        using var exempt = await ConnectSlowAsync(host.Port, 8 * 1024, bufferSize: 256);
        var stopwatch = Stopwatch.StartNew();
        await ReadHeadersAsync(slow, Wire.Request("GET", "/big.bin"));
        await ReadHeadersAsync(exempt, Wire.Request("GET", "/exempt/big.bin"));

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
            await slow.ReadSomeAsync(buffer.AsMemory(0, 256), TimeSpan.FromSeconds(5));
            var n = await exempt.ReadSomeAsync(buffer.AsMemory(0, 256), TimeSpan.FromSeconds(5));
            exemptBody.Write(buffer, 0, n);
        }

        var cutAfter = stopwatch.Elapsed;
        Assert.True(cutAfter > TimeSpan.FromSeconds(4) && cutAfter < TimeSpan.FromSeconds(9), $"cut after {cutAfter}");
        Assert.Single(host.Logs.ForEvent("RegionRateTooSlow"));

        // The slow client's body ends early; the exempt client gets everything, byte-exact.
        var (slowRest, _) = await ReadToCloseAsync(slow, TimeSpan.FromSeconds(10));
        Assert.True(slowRest < Length, "the slow client received the whole body");
        var rest = await exempt.ReadBodyAsync(Length - exemptBody.Length, chunk => exemptBody.Write(chunk), TimeSpan.FromSeconds(30));
        Assert.True(rest.End == BodyEnd.Complete, $"the exempt client was cut after {exemptBody.Length} bytes ({rest})");
        Assert.Equal(expected, exemptBody.ToArray());
    }
}

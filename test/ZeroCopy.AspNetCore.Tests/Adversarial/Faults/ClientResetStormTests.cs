using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace ZeroCopy.AspNetCore.Tests.Adversarial.Faults;

/// <summary>
/// Case 4 (resets): 1,000 clients per strategy reset their connection (RST: SO_LINGER 0) at random
/// points — inside the request, right after it, inside the headers, at a random body offset, with
/// pipelined requests queued behind a file region, inside a range — 32 at a time. Afterwards the
/// process's open descriptors are back to the baseline taken after a warm-up (± 4, pooled splice
/// pipes excluded: <c>ZeroCopyTransportFactory.CachedDescriptors</c>) within 5 s, no error was
/// logged, no task exception went unobserved, and the server still serves byte-exact.
/// </summary>
/// <remarks>
/// Beyond Transport/TransportFaultTests (100 resets after the headers, one file): ten times as many
/// resets, concurrent, at every stage of a request (including before a region exists and with
/// regions queued behind it), on the hot-cache snapshot path too, and the memfd count checked.
/// </remarks>
[Collection(SerialTests.Name)]
public sealed class ClientResetStormTests : IDisposable
{
    private const int BigLength = 8 << 20;
    private const int Concurrency = 32;
    private readonly TempDirectory _root = new("zc-resets");

    public ClientResetStormTests() => FaultHosts.RequireLinux();

    public void Dispose() => _root.Dispose();

    internal enum ResetPoint
    {
        InsideRequest,
        AfterRequest,
        InsideHeaders,
        InsideBody,
        PipelinedRegions,
        InsideRange,
    }

    public static TheoryData<ZeroCopyTransportEngine, FaultStrategy> StormStrategies
        => Engines.Cross(FaultStrategy.SendFile, FaultStrategy.Splice, FaultStrategy.Stream, FaultStrategy.CachedSnapshot);

    public static TheoryData<ZeroCopyTransportEngine, FaultStrategy> RegionStrategies => Engines.Cross(FaultStrategy.SendFile, FaultStrategy.Splice);

    [Theory]
    [MemberData(nameof(StormStrategies))]
    public async Task Client_resets_at_random_points_leave_descriptors_at_baseline_and_no_error(ZeroCopyTransportEngine engine, FaultStrategy strategy)
    {
        Engines.Require(engine);
        var ct = TestContext.Current.CancellationToken;
        var resets = Scale.Full ? 10_000 : 1_000;
        var big = File.ReadAllBytes(_root.WriteRandom("big.bin", BigLength, seed: 21));
        _root.WriteRandom("small.bin", 100_000, seed: 22);
        using var unobserved = new UnobservedTaskExceptions();
        try
        {
            await using var host = await FaultHosts.StartAsync(_root, strategy, engine, snapshotMaxBytes: BigLength);
            using var metrics = FaultHosts.Metrics(host);
            var transport = FaultHosts.Transport(host);

            // Warm up at the same concurrency (pools, splice pipes, cache entries, inotify), then
            // take the baseline with no client connected. The first download admits the cache entry.
            await DownloadExactAsync(host.Port, "/big.bin", big, ct);
            await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => DownloadExactAsync(host.Port, "/big.bin", big, ct)));
            await DownloadExactAsync(host.Port, "/small.bin", null, ct);
            Assert.True(metrics.Responses(FaultHosts.MetricTag(strategy)) > Concurrency, metrics.Dump());
            var random = new Random(23);
            var plan = Enumerable.Range(0, resets)
                .Select(_ => (Point: (ResetPoint)random.Next(6), Offset: random.Next(0, 3 << 20), Seed: random.Next()))
                .ToArray();

            // One warm-up reset of every kind: first-time code paths load what they load.
            foreach (var point in Enum.GetValues<ResetPoint>())
            {
                await ResetAsync(host.Port, point, 1 << 20, 7, ct);
            }

            await ProcessProbe.SettleAsync(() => ProcessProbe.DescriptorsExceptImages() - transport.CachedDescriptors);
            ProcessProbe.ForceGc();
            var baseline = ProcessProbe.DescriptorsExceptImages() - transport.CachedDescriptors;
            var rawBaseline = ProcessProbe.Descriptors() - transport.CachedDescriptors;
            var memfdBaseline = ProcessProbe.MemfdMappings();

            var next = -1;
            var stopwatch = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(async _ =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < plan.Length)
                {
                    await ResetAsync(host.Port, plan[i].Point, plan[i].Offset, plan[i].Seed, ct);
                }
            })).WaitAsync(TimeSpan.FromSeconds(Scale.Full ? 600 : 120), ct);
            var storm = stopwatch.Elapsed;

            var settle = Stopwatch.StartNew();
            var settled = await Poll.UntilAsync(() => ProcessProbe.DescriptorsExceptImages() - transport.CachedDescriptors <= baseline + 4, TimeSpan.FromSeconds(5));
            var settledAfter = settle.Elapsed;
            // The figure is read once the count stopped moving (connections may still be closing).
            var after = (int)await ProcessProbe.SettleAsync(() => ProcessProbe.DescriptorsExceptImages() - transport.CachedDescriptors);
            var rawAfter = ProcessProbe.Descriptors() - transport.CachedDescriptors;
            Figures.Report(
                $"{resets} client resets at random points (32 concurrent), {strategy}, {engine} engine",
                $"{Figures.Seconds(storm)} for the resets; descriptors {after} vs baseline {baseline} "
                + (settled ? $"within {Figures.Seconds(settledAfter)}" : "NOT back within 5 s")
                + $" (managed images and pooled splice pipes excluded; all descriptors {rawAfter} vs {rawBaseline}; pooled pipe fds {transport.CachedDescriptors})"
                + $"; memfd mappings {ProcessProbe.MemfdMappings()} vs {memfdBaseline}");
            Assert.True(settled && after <= baseline + 4, $"descriptors {after} (baseline {baseline}): {Posix.DescribeDescriptors()}");
            Assert.True(after >= baseline - 4, $"descriptors {after} below baseline {baseline}");
            Assert.Equal(memfdBaseline, ProcessProbe.MemfdMappings());

            // Healthy afterwards, and nothing logged as an error.
            await DownloadExactAsync(host.Port, "/big.bin", big, ct);
            // A reset landing between the headers and the region used to log RegionViolation at
            // Error (5-10 % of the resets at a15bbdd); see
            // A_connection_aborted_just_before_its_file_region_starts_logs_no_error. Fixed: it fails here too.
            var violations = host.Logs.ForEvent("RegionViolation").Count();
            Figures.Report($"{resets} client resets, {strategy}, {engine} engine: RegionViolation errors logged", violations.ToString(CultureInfo.InvariantCulture));
            var errors = host.Logs.Records.Where(r => r.Level >= LogLevel.Error).Select(r => $"{r.Level} {r.Category} {r.EventId.Name}: {r.Message} {r.Exception}").ToList();
            foreach (var error in errors.Take(10))
            {
                TestContext.Current.TestOutputHelper?.WriteLine("ERROR LOGGED: " + error);
            }

            Assert.True(errors.Count == 0, $"{errors.Count} errors logged, first: " + errors.FirstOrDefault());
        }
        finally
        {
            unobserved.Collect();
        }

        Assert.Equal(0, unobserved.Count);
    }

    /// <summary>
    /// Deterministic form of a race the reset storm hit in 5–10 % of its resets (fixed): the
    /// connection is aborted (as Kestrel does when the client's RST arrives) after the headers
    /// were started but before the file region is advanced. Kestrel's output producer then drops
    /// the region's Advance calls (it hands out fake memory once aborted), the region is never
    /// consumed, and when the connection was disposed the transport's writer completed with the
    /// region open and logged RegionViolation at Error level — for an ordinary client disconnect.
    /// Now the region is not begun on an ended connection, and one left open by an abort is
    /// released quietly (debug event RegionAbandoned).
    /// </summary>
    [Theory]
    [MemberData(nameof(RegionStrategies))]
    public async Task A_connection_aborted_just_before_its_file_region_starts_logs_no_error(ZeroCopyTransportEngine engine, FaultStrategy strategy)
    {
        Engines.Require(engine);
        var ct = TestContext.Current.CancellationToken;
        _root.WriteRandom("big.bin", BigLength, seed: 24);
        await using var host = await FaultHosts.StartAsync(
            _root,
            strategy,
            engine,
            before: app => app.Use((context, next) =>
            {
                if (context.Request.Query.ContainsKey("abort"))
                {
                    // Kestrel's own reaction to a client RST: abort the connection. It fires
                    // RequestAborted later, on the thread pool, so the middleware goes on.
                    context.Response.OnStarting(() =>
                    {
                        context.Abort();
                        return Task.CompletedTask;
                    });
                }

                return next(context);
            }));

        const int Attempts = 20;
        for (var i = 0; i < Attempts; i++)
        {
            using var connection = await WireClient.ConnectAsync(host.Port);
            await connection.SendAsync(Wire.Get("/big.bin?abort=1"));
            Assert.NotEqual(BodyEnd.Hang, await connection.WaitForEndAsync(TimeSpan.FromSeconds(10)));
        }

        await Poll.UntilAsync(() => host.Logs.ForEvent("RegionViolation").Count() >= Attempts, TimeSpan.FromSeconds(2));
        var violations = host.Logs.ForEvent("RegionViolation").ToList();
        Figures.Report(
            $"connection aborted between the headers and the file region, {strategy}, {engine} engine",
            $"{violations.Count} of {Attempts} aborted responses logged RegionViolation at {violations.FirstOrDefault()?.Level.ToString() ?? "-"}: {violations.FirstOrDefault()?.Message}");
        Assert.DoesNotContain(host.Logs.Records, r => r.Level >= LogLevel.Error);
    }

    internal static async Task ResetAsync(int port, ResetPoint point, int offset, int seed, CancellationToken ct)
    {
        using var connection = await WireClient.ConnectAsync(port, receiveBuffer: 32 * 1024);
        try
        {
            var request = Wire.Get("/big.bin");
            switch (point)
            {
                case ResetPoint.InsideRequest:
                    await connection.SendAsync(request[..(1 + (seed % (request.Length - 2)))]);
                    break;
                case ResetPoint.AfterRequest:
                    await connection.SendAsync(request);
                    break;
                case ResetPoint.InsideHeaders:
                    await connection.SendAsync(request);
                    await connection.ReadExactAsync(1 + (seed % 100), TimeSpan.FromSeconds(30));
                    break;
                case ResetPoint.InsideBody:
                    await connection.SendAsync(request);
                    await ReadBodyPrefixAsync(connection, offset, ct);
                    break;
                case ResetPoint.PipelinedRegions:
                    // Three regions queued (two files and a range) plus a small body behind them.
                    var pipelined = new StringBuilder()
                        .Append(request)
                        .Append(Wire.Get("/small.bin"))
                        .Append(Wire.Get("/big.bin", "Range: bytes=" + (seed % 1000).ToString(CultureInfo.InvariantCulture) + "-"))
                        .Append(Wire.Get("/big.bin"));
                    await connection.SendAsync(pipelined.ToString());
                    await ReadBodyPrefixAsync(connection, offset, ct);
                    break;
                case ResetPoint.InsideRange:
                    var start = seed % (BigLength / 2);
                    await connection.SendAsync(Wire.Get("/big.bin", $"Range: bytes={start}-{start + (BigLength / 4)}"));
                    await ReadBodyPrefixAsync(connection, offset / 2, ct);
                    break;
            }
        }
        finally
        {
            connection.Reset();
        }
    }

    private static async Task ReadBodyPrefixAsync(WireClient connection, int offset, CancellationToken ct)
    {
        var head = await connection.ReadHeadAsync(TimeSpan.FromSeconds(30));
        Assert.True(head.Status is 200 or 206, head.ToString());
        var read = await connection.ReadBodyAsync(head.ContentLength, null, TimeSpan.FromSeconds(30), stopAt: offset);
        Assert.True(read.End is BodyEnd.Stopped or BodyEnd.Complete, read.ToString());
    }

    internal static async Task DownloadExactAsync(int port, string path, byte[]? expected, CancellationToken ct)
    {
        using var connection = await WireClient.ConnectAsync(port);
        await connection.SendAsync(Wire.Get(path, "Connection: close"));
        var head = await connection.ReadHeadAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(200, head.Status);
        using var check = expected is null ? null : new BodyCheck(expected, hash: false);
        var read = await connection.ReadBodyAsync(head.ContentLength, check is null ? null : check.Append, TimeSpan.FromSeconds(30));
        Assert.Equal(BodyEnd.Complete, read.End);
        Assert.True(check?.Finish() ?? true, $"{path} not byte-exact at {check?.FirstMismatch}");
        // Connection: close — wait for the server's FIN so its descriptor is gone before a baseline.
        Assert.Equal(BodyEnd.Fin, await connection.WaitForEndAsync(TimeSpan.FromSeconds(10)));
    }
}

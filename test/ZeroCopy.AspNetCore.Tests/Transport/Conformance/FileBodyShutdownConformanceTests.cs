using System.Diagnostics;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>
/// File bodies and the server's own limits: graceful shutdown, the shutdown timeout and the
/// minimum response data rate cut or finish a file download as Kestrel's socket transport does.
/// </summary>
public sealed class FileBodyShutdownConformanceTests(FileBodyFixture files) : IClassFixture<FileBodyFixture>
{
    private const int FileSize = FileBodyFixture.FileSize;
    private static readonly TimeSpan s_wait = FileBodyFixture.Wait;

    [Theory]
    [InlineData(ZeroCopyMode.SendFile)]
    [InlineData(ZeroCopyMode.Splice)]
    public Task Graceful_shutdown_lets_a_file_download_in_flight_finish_identically(ZeroCopyMode mode)
        => Compare.SameAsync(async kind =>
        {
            await using var file = await files.StartAsync(kind, mode, s => s.ShutdownTimeout = TimeSpan.FromSeconds(15));
            var (host, outcome, _) = file;
            await using var client = await host.ConnectAsync();
            await client.SendAsync(Wire.Request("GET", "/file"));
            var head = await ConnectionLifecycleConformanceTests.ReadHeadAsync(client);

            // Shutdown starts while most of the body is still to be sent; the client keeps reading.
            var stop = host.StopAsync(TestContext.Current.CancellationToken);
            var body = await client.ReadExactAsync(FileSize, s_wait);
            var end = await client.ReadToEndAsync(s_wait);
            await stop.Within(s_wait, "StopAsync after the download finished");
            var app = await outcome.Task.Within(s_wait, "the endpoint");
            host.AssertClean();
            var exact = body.AsSpan().SequenceEqual(ConformanceData.Large.AsSpan(0, FileSize));
            var headText = Wire.WithoutDate(head).Replace("\r\n", "|", StringComparison.Ordinal);
            headText = string.Join("|", headText.Split('|').Where(h => !h.StartsWith("Last-Modified:", StringComparison.Ordinal)));
            return $"head: {headText}; body exact={exact}; then {end}; app: {app}";
        });

    [Theory]
    [InlineData(ZeroCopyMode.SendFile)]
    [InlineData(ZeroCopyMode.Splice)]
    public Task Shutdown_timeout_aborts_a_stalled_file_download_identically(ZeroCopyMode mode)
    {
        var timeout = TimeSpan.FromSeconds(2);
        return Compare.SameConcurrentlyAsync(
            async kind =>
            {
                await using var file = await files.StartAsync(kind, mode, s => s.ShutdownTimeout = timeout);
                var (host, _, connectionClosed) = file;
                await using var client = await FileBodyFixture.StartStalledDownloadAsync(host);

                // The client stops reading; the download can only end by the shutdown timeout.
                var stopwatch = Stopwatch.StartNew();
                await host.StopAsync(TestContext.Current.CancellationToken).Within(s_wait, "StopAsync");
                var elapsed = stopwatch.Elapsed;
                await connectionClosed.Task.Within(s_wait, "the connection to be closed");
                var end = await client.ReadToEndAsync(s_wait);
                host.AssertIntendedTransport();
                var inTime = elapsed >= timeout - TimeSpan.FromMilliseconds(200) && elapsed <= timeout + TimeSpan.FromSeconds(2);
                var transportErrors = host.ErrorLogs().Where(r => !r.Category.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal)).Select(ConformanceHost.Describe).ToList();
                Assert.True(transportErrors.Count == 0, $"{kind}: transport error logs:\n" + string.Join("\n", transportErrors));
                TestContext.Current.TestOutputHelper?.WriteLine($"{kind}: StopAsync took {elapsed.TotalMilliseconds:0} ms");
                return $"stopped in time={inTime}; client: {end.Kind}, whole body={(1024 * 1024) + end.Data.Length >= FileSize}";
            },
            (kind, observed) => Assert.True(observed == "stopped in time=True; client: Reset, whole body=False", $"{kind}: {observed}"));
    }

    [Theory]
    [InlineData(ZeroCopyMode.SendFile)]
    [InlineData(ZeroCopyMode.Splice)]
    public Task Client_that_stops_reading_a_file_body_is_cut_by_MinResponseDataRate_on_both_transports(ZeroCopyMode mode)
        => Compare.SameConcurrentlyAsync(
            async kind =>
            {
                // 24 MiB at 16 MiB/s: Kestrel allows a write max(grace, bytes / rate) = 2 s.
                await using var file = await files.StartAsync(kind, mode, s => s.Kestrel = o => o.Limits.MinResponseDataRate = new MinDataRate(bytesPerSecond: 16 * 1024 * 1024, gracePeriod: TimeSpan.FromSeconds(2)));
                var (host, _, connectionClosed) = file;
                await using var client = await FileBodyFixture.StartStalledDownloadAsync(host);

                // Stop reading until the server cuts the connection (bounded).
                var stopwatch = Stopwatch.StartNew();
                var cut = await Task.WhenAny(connectionClosed.Task, Task.Delay(s_wait, TestContext.Current.CancellationToken)) == connectionClosed.Task;
                var elapsed = stopwatch.Elapsed;
                var end = await client.ReadToEndAsync(s_wait);
                await ConnectionLifecycleConformanceTests.AssertHealthyAsync(host);
                host.AssertClean();
                TestContext.Current.TestOutputHelper?.WriteLine($"{kind}: cut={cut} after {elapsed.TotalMilliseconds:0} ms");
                return $"cut={cut}; cut within 10 s={elapsed < TimeSpan.FromSeconds(10)}; client: {end.Kind}, whole body={(1024 * 1024) + end.Data.Length >= FileSize}";
            },
            (kind, observed) => Assert.True(observed == "cut=True; cut within 10 s=True; client: Reset, whole body=False", $"{kind}: {observed}"));
}

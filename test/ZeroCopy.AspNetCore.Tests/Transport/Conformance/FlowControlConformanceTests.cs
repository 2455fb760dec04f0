using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>
/// Backpressure and Kestrel's data-rate limits, which depend on how the transport pauses and
/// resumes its pipes; plus Expect: 100-continue and many concurrent connections.
/// </summary>
public sealed class FlowControlConformanceTests
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(15);

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task Upload_to_an_app_that_reads_slowly_is_paused_and_resumed_byte_exact(TransportKind kind)
    {
        const int Size = 8 * 1024 * 1024;
        await using var host = await ConformanceHost.StartAsync(kind, app => app.MapPost("/slow-hash", async context =>
        {
            // Small reads with a yield in between: the client sends faster than this consumes, so
            // the transport's input pipe fills (1 MiB) and receiving pauses and resumes.
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[1024];
            long length = 0;
            int n;
            while ((n = await context.Request.Body.ReadAsync(buffer)) > 0)
            {
                hash.AppendData(buffer, 0, n);
                length += n;
                await Task.Yield();
            }

            await context.Response.WriteAsync($"{length} {Convert.ToHexStringLower(hash.GetHashAndReset())}");
        }));
        using var content = new ByteArrayContent(ConformanceData.Large, 0, Size);
        using var response = await host.Client.PostAsync("/slow-hash", content, TestContext.Current.CancellationToken);
        Assert.Equal($"{Size} {ConformanceData.Sha256(ConformanceData.Large.AsSpan(0, Size))}", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        host.AssertClean();
    }

    [Fact]
    public Task Client_that_stops_reading_is_aborted_by_MinResponseDataRate_identically_on_both_transports()
        => Compare.SameConcurrentlyAsync(StalledReaderAsync, (kind, observed) =>
            Assert.True(
                observed.StartsWith("app: stopped; RequestAborted=True; client: Reset", StringComparison.Ordinal),
                $"{kind}: {observed}"));

    private static async Task<string> StalledReaderAsync(TransportKind kind)
    {
        var outcome = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await ConformanceHost.StartAsync(
            kind,
            app =>
            {
                app.MapGet("/ping", () => "pong");

                // The client never reads the body.
                app.MapGet("/big", async context =>
                    outcome.TrySetResult(await ConformanceData.WriteUntilAbortedAsync(context, ConformanceData.Large.AsMemory(0, 256 * 1024), s_wait)));
            },

            // A high rate: the timeout is (grace + bytes in flight / rate), so the abort comes
            // about 2-3 s after the client stops reading.
            s => s.Kestrel = o => o.Limits.MinResponseDataRate = new MinDataRate(bytesPerSecond: 16 * 1024 * 1024, gracePeriod: TimeSpan.FromSeconds(2)));
        await using var client = await host.ConnectAsync();
        await client.SendAsync(Wire.Request("GET", "/big"));
        await client.ReadExactAsync(64 * 1024, s_wait);

        // Stop reading: the server's writes stall until Kestrel's rate check aborts the connection.
        var app = await outcome.Task.Within(s_wait, "Kestrel to abort the stalled response");
        var end = await client.ReadToEndAsync(s_wait);
        var rateEvents = host.Logs.Records.Where(r => r.EventId.Name == "ResponseMinimumDataRateNotSatisfied").Select(r => $"{r.Category}/{r.Level}").Distinct();
        await ConnectionLifecycleConformanceTests.AssertHealthyAsync(host);
        host.AssertClean();
        return $"app: {app}; client: {end.Kind}; logs: {string.Join(",", rateEvents)}";
    }

    [Fact]
    public Task Request_body_sent_too_slowly_is_rejected_by_MinRequestBodyDataRate_identically_on_both_transports()
        => Compare.SameConcurrentlyAsync(StalledUploadAsync, (kind, observed) =>
            Assert.True(
                observed.StartsWith("app: Microsoft.AspNetCore.Server.Kestrel.Core.BadHttpRequestException 408; client: HTTP/1.1 408 Request Timeout", StringComparison.Ordinal),
                $"{kind}: {observed}"));

    private static async Task<string> StalledUploadAsync(TransportKind kind)
    {
        var outcome = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await ConformanceHost.StartAsync(
            kind,
            app =>
            {
                app.MapGet("/ping", () => "pong");
                app.MapPost("/upload", async context =>
                {
                    try
                    {
                        await context.Request.Body.CopyToAsync(Stream.Null);
                        outcome.TrySetResult("completed");
                    }
                    catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex)
                    {
                        outcome.TrySetResult($"{ex.GetType().FullName} {ex.StatusCode}");
                        throw;
                    }
                    catch (Exception ex)
                    {
                        outcome.TrySetResult(ex.GetType().FullName!);
                        throw;
                    }
                });
            },
            s => s.Kestrel = o => o.Limits.MinRequestBodyDataRate = new MinDataRate(bytesPerSecond: 1000, gracePeriod: TimeSpan.FromSeconds(2)));
        await using var client = await host.ConnectAsync();
        await client.SendAsync(Wire.Request("POST", "/upload", "Content-Length: 100000") + "0123456789");
        var app = await outcome.Task.Within(s_wait, "Kestrel to time out the request body");
        var response = await client.ReadResponseAsync(timeout: s_wait);
        var end = await client.ReadToEndAsync(s_wait);
        await ConnectionLifecycleConformanceTests.AssertHealthyAsync(host);
        host.AssertIntendedTransport();
        var transportErrors = host.ErrorLogs().Where(r => !r.Category.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal)).Select(ConformanceHost.Describe).ToList();
        Assert.True(transportErrors.Count == 0, "Transport error logs:\n" + string.Join("\n", transportErrors));
        return $"app: {app}; client: {response.Normalized} then {end}; error logs: {string.Join(",", host.ErrorLogs().Select(r => r.EventId.Name))}";
    }

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task Expect_100_continue_is_answered_before_the_body_is_sent(TransportKind kind)
    {
        await using var host = await ConformanceHost.StartAsync(kind, app => app.MapPost("/echo", async context => await context.Request.Body.CopyToAsync(context.Response.Body)));
        await using var client = await host.ConnectAsync();
        await client.SendAsync(Wire.Request("POST", "/echo", "Content-Length: 5", "Expect: 100-continue"));
        var interim = await client.ReadResponseAsync();
        Assert.Equal("HTTP/1.1 100 Continue", interim.Head);
        await client.SendAsync("hello");
        var response = await client.ReadResponseAsync();
        Assert.Equal(200, response.Status);
        Assert.Equal("hello", response.BodyText);
        host.AssertClean();
    }

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task Hundred_concurrent_connections_are_each_served_in_order(TransportKind kind)
    {
        const int Connections = 100;
        await using var host = await ConformanceHost.StartAsync(kind, app => app.MapGet("/n/{i}", (HttpContext context, int i) =>
            context.Response.WriteAsync(string.Concat(Enumerable.Repeat(i.ToString(CultureInfo.InvariantCulture) + ",", i)))));
        var clients = await Task.WhenAll(Enumerable.Range(0, Connections).Select(_ => host.ConnectAsync()));
        try
        {
            await Task.WhenAll(clients.Select(async (client, c) =>
            {
                for (var r = 0; r < 5; r++)
                {
                    var i = (c * 5) + r;
                    await client.SendAsync(Wire.Request("GET", $"/n/{i}"));
                    var response = await client.ReadResponseAsync();
                    Assert.Equal(string.Concat(Enumerable.Repeat(i.ToString(CultureInfo.InvariantCulture) + ",", i)), Encoding.ASCII.GetString(response.Body));
                }
            })).Within(TimeSpan.FromSeconds(30), "the concurrent clients");
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }

        Assert.Equal(Connections, host.ConnectionCount);
        host.AssertClean(minimumConnections: Connections);
    }
}

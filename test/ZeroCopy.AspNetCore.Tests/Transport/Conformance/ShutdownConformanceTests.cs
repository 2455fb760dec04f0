using System.Diagnostics;
using Microsoft.AspNetCore.Connections.Features;

namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>Scenario 10: graceful shutdown with requests in flight, idle connections and a timeout.</summary>
public sealed class ShutdownConformanceTests
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    private sealed class Probe
    {
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<string> Outcome { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Kestrel asked the connection to close (IConnectionLifetimeNotificationFeature).</summary>
        public TaskCompletionSource CloseRequested { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Map(WebApplication app)
        {
            app.MapGet("/ping", () => "pong");
            app.MapGet("/in-flight", async context =>
            {
                context.Features.Get<IConnectionLifetimeNotificationFeature>()!.ConnectionClosedRequested.Register(() => CloseRequested.TrySetResult());
                Started.TrySetResult();
                await Release.Task.WaitAsync(s_wait);
                var body = ConformanceData.Large.AsMemory(0, 256 * 1024);
                context.Response.ContentLength = body.Length;
                await context.Response.Body.WriteAsync(body);
                Outcome.TrySetResult(context.RequestAborted.IsCancellationRequested ? "aborted" : "completed");
            });
            app.MapGet("/never", async context =>
            {
                await context.Response.WriteAsync("partial");
                await context.Response.Body.FlushAsync();
                Started.TrySetResult();
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
                    Outcome.TrySetResult("not aborted");
                }
                catch (OperationCanceledException)
                {
                    Outcome.TrySetResult("RequestAborted");
                }
            });
        }
    }

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task Request_in_flight_completes_during_graceful_shutdown_while_new_connections_are_refused(TransportKind kind)
    {
        var observed = await InFlightAsync(kind);
        Assert.Equal("refused=True; status=200; Connection=close; body=262144 bytes exact=True; then Fin after 0 byte(s); app=completed", observed);
    }

    [Fact]
    public Task Graceful_shutdown_with_a_request_in_flight_is_identical_on_both_transports()
        => Compare.SameAsync(InFlightAsync);

    private static async Task<string> InFlightAsync(TransportKind kind)
    {
        var probe = new Probe();
        await using var host = await ConformanceHost.StartAsync(kind, probe.Map, s => s.ShutdownTimeout = TimeSpan.FromSeconds(10));
        await using var client = await host.ConnectAsync();
        await client.SendAsync(Wire.Request("GET", "/in-flight"));
        await probe.Started.Task.Within(s_wait, "the request to start");
        host.AssertIntendedTransport();

        var stop = host.StopAsync(TestContext.Current.CancellationToken);
        var refused = false;
        var stopwatch = Stopwatch.StartNew();
        while (!refused && stopwatch.Elapsed < TimeSpan.FromSeconds(5))
        {
            refused = await ConformanceData.IsRefusedAsync(host.EndPoint);
            if (!refused)
            {
                await Task.Delay(20, TestContext.Current.CancellationToken);
            }
        }

        Assert.False(stop.IsCompleted, "StopAsync finished while a request was still in flight.");

        // Kestrel unbinds first and then asks each connection to close; once the request knows,
        // its response says Connection: close.
        await probe.CloseRequested.Task.Within(s_wait, "Kestrel to ask the connection to close");
        probe.Release.SetResult();
        var response = await client.ReadResponseAsync();
        var exact = response.Body.AsSpan().SequenceEqual(ConformanceData.Large.AsSpan(0, 256 * 1024));
        var end = await client.ReadToEndAsync(s_wait);
        await stop.Within(s_wait, "StopAsync after the in-flight request completed");
        var app = await probe.Outcome.Task.Within(s_wait, "the endpoint to finish");
        host.AssertNoErrorLogs();
        return $"refused={refused}; status={response.Status}; Connection={response.Header("Connection")}; body={response.Body.Length} bytes exact={exact}; then {end}; app={app}";
    }

    [Fact]
    public Task Request_that_never_finishes_is_aborted_when_the_shutdown_timeout_elapses_identically_on_both_transports()
        => Compare.SameConcurrentlyAsync(NeverFinishesAsync, (kind, observed) =>
            Assert.True(
                observed.StartsWith("stopped in time=True; app=RequestAborted; client=Reset after 0 byte(s)", StringComparison.Ordinal),
                $"{kind}: {observed}"));

    private static async Task<string> NeverFinishesAsync(TransportKind kind)
    {
        var timeout = TimeSpan.FromSeconds(2);
        var probe = new Probe();
        await using var host = await ConformanceHost.StartAsync(kind, probe.Map, s => s.ShutdownTimeout = timeout);
        await using var client = await host.ConnectAsync();
        await client.SendAsync(Wire.Request("GET", "/never"));
        await probe.Started.Task.Within(s_wait, "the request to start");
        var head = await ConnectionLifecycleConformanceTests.ReadHeadAsync(client);
        var partial = await client.ReadExactAsync("7\r\npartial\r\n".Length, s_wait);
        host.AssertIntendedTransport();

        var stopwatch = Stopwatch.StartNew();
        await host.StopAsync(TestContext.Current.CancellationToken).Within(timeout + TimeSpan.FromSeconds(8), "StopAsync");
        var elapsed = stopwatch.Elapsed;
        var app = await probe.Outcome.Task.Within(s_wait, "the endpoint to be aborted");
        var end = await client.ReadToEndAsync(s_wait);
        var inTime = elapsed >= timeout - TimeSpan.FromMilliseconds(200) && elapsed <= timeout + TimeSpan.FromSeconds(2);
        TestContext.Current.TestOutputHelper?.WriteLine($"{kind}: StopAsync took {elapsed.TotalMilliseconds:0} ms");
        var transportErrors = host.ErrorLogs().Where(r => !r.Category.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal)).Select(ConformanceHost.Describe).ToList();
        Assert.True(transportErrors.Count == 0, "Transport error logs:\n" + string.Join("\n", transportErrors));
        return $"stopped in time={inTime}; app={app}; client={end}; head={Wire.WithoutDate(head).Replace("\r\n", "|", StringComparison.Ordinal)}; partial={partial.Length}; kestrel errors={string.Join(",", host.ErrorLogs().Select(r => r.EventId.Name))}";
    }

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task Idle_keep_alive_connection_is_closed_with_FIN_at_shutdown(TransportKind kind)
    {
        var probe = new Probe();
        await using var host = await ConformanceHost.StartAsync(kind, probe.Map, s => s.ShutdownTimeout = TimeSpan.FromSeconds(10));
        await using var client = await host.ConnectAsync();
        await client.SendAsync(Wire.Request("GET", "/ping"));
        Assert.Equal("pong", (await client.ReadResponseAsync()).BodyText);

        var stopwatch = Stopwatch.StartNew();
        await host.StopAsync(TestContext.Current.CancellationToken).Within(s_wait, "StopAsync");
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"StopAsync took {stopwatch.Elapsed} with only an idle connection.");
        var end = await client.ReadToEndAsync(s_wait);
        Assert.Equal(CloseKind.Fin, end.Kind);
        Assert.Empty(end.Data);
        host.AssertClean();
    }
}

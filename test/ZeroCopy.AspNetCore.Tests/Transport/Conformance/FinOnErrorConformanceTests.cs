using System.Reflection;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>
/// Kestrel's documented AppContext switch <c>Microsoft.AspNetCore.Server.Kestrel.FinOnError</c>
/// ("when true, sends FIN instead of RST" on aborted connections). The switch is read once per
/// process into the internal <c>FinOnError</c> properties of <see cref="KestrelServerOptions"/> and
/// <see cref="SocketTransportOptions"/>; this test sets those properties on one host (the same
/// effect, without changing the process for other tests).
/// </summary>
public sealed class FinOnErrorConformanceTests
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    [Fact]
    public Task With_FinOnError_aborted_connections_end_with_FIN_on_both_transports()
    {
        var kestrelFlag = typeof(KestrelServerOptions).GetProperty("FinOnError", BindingFlags.Instance | BindingFlags.NonPublic);
        var socketsFlag = typeof(SocketTransportOptions).GetProperty("FinOnError", BindingFlags.Instance | BindingFlags.NonPublic);
        if (kestrelFlag is null || socketsFlag is null)
        {
            Assert.Skip("This Kestrel has no internal FinOnError properties to set.");
        }

        return Compare.SameConcurrentlyAsync(
            async kind =>
            {
                var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                await using var host = await ConformanceHost.StartAsync(
                    kind,
                    app =>
                    {
                        app.MapGet("/ping", () => "pong");
                        app.MapGet("/abort", async context =>
                        {
                            await context.Response.WriteAsync("start");
                            await context.Response.Body.FlushAsync();
                            await release.Task.WaitAsync(s_wait);
                            context.Abort();
                        });
                        app.MapGet("/hold", async context =>
                        {
                            started.TrySetResult();
                            try
                            {
                                await Task.Delay(s_wait, context.RequestAborted);
                            }
                            catch (OperationCanceledException)
                            {
                            }
                        });
                    },
                    s => s.Builder = builder =>
                    {
                        builder.WebHost.ConfigureKestrel(o => kestrelFlag.SetValue(o, true));
                        builder.Services.Configure<SocketTransportOptions>(o => socketsFlag.SetValue(o, true));
                        // The zero-copy transport reads the same AppContext switch into its own option.
                        builder.Services.Configure<ZeroCopy.AspNetCore.ZeroCopyTransportOptions>(o => o.FinOnError = true);
                    });

                // HttpContext.Abort() after the response started.
                string aborted;
                await using (var client = await host.ConnectAsync())
                {
                    await client.SendAsync(Wire.Request("GET", "/abort"));
                    await ConnectionLifecycleConformanceTests.ReadHeadAsync(client);
                    await client.ReadExactAsync(10, s_wait);
                    release.SetResult();
                    aborted = (await client.ReadToEndAsync(s_wait)).ToString();
                }

                // The client half-closes during a request (Kestrel aborts with a reason when FinOnError is set).
                string halfClosed;
                await using (var client = await host.ConnectAsync())
                {
                    await client.SendAsync(Wire.Request("GET", "/hold"));
                    await started.Task.Within(s_wait, "the request to start");
                    client.ShutdownSend();
                    halfClosed = (await client.ReadToEndAsync(s_wait)).ToString();
                }

                await ConnectionLifecycleConformanceTests.AssertHealthyAsync(host);
                host.AssertIntendedTransport();
                return $"HttpContext.Abort(): {aborted}; half-close during a request: {halfClosed}";
            },
            (kind, observed) => Assert.True(
                observed == "HttpContext.Abort(): Fin after 0 byte(s); half-close during a request: Fin after 0 byte(s)",
                $"{kind}: {observed}"));
    }
}

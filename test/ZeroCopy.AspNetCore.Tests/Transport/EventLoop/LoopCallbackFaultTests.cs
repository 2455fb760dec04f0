using System.Diagnostics;
using System.Runtime.Versioning;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;

namespace ZeroCopy.AspNetCore.Tests.Transport.EventLoop;

/// <summary>
/// Issue 15, item 5: a loop callback that throws (a bug of ours, planted here with
/// <see cref="FaultingSocketSyscalls"/>) does not take the process down silently. The connection it
/// served is reset (the client sees RST, not a hang), the error is logged at Error as
/// <c>LoopConnectionFailed</c> with that connection's id, and another connection on the same loop
/// (<c>EventLoopCount</c> = 1) is served before and after on the same socket.
/// </summary>
/// <remarks>
/// Two paths: the send throws after Kestrel flushed a response (the loop runs the output pipe's
/// continuation), the receive throws while the loop handles an EPOLLIN event.
/// </remarks>
[SupportedOSPlatform("linux")]
public sealed partial class LoopCallbackFaultTests
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    [GeneratedRegex("Connection id \"([^\"]+)\"")]
    private static partial Regex ConnectionIdInMessage();

    [Theory]
    [InlineData("send")]
    [InlineData("receive")]
    public async Task A_throwing_loop_callback_resets_its_connection_logs_it_and_the_loop_serves_the_others(string where)
    {
        Engines.Require(ZeroCopyTransportEngine.EventLoop);
        var syscalls = new FaultingSocketSyscalls();
        var faultedId = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(
            HostKind.Kestrel,
            contentRoot: null,
            builder =>
            {
                builder.Services.AddZeroCopyStaticFiles();
                Engines.Use(builder, ZeroCopyTransportEngine.EventLoop);
                builder.Services.Configure<ZeroCopyTransportOptions>(o =>
                {
                    o.EventLoopCount = 1;
                    o.Syscalls = syscalls;
                });
            },
            app => app.Run(context =>
            {
                if (context.Request.Path == "/send-fault")
                {
                    faultedId.TrySetResult(context.Connection.Id);
                    return context.Response.WriteAsync(FaultingSocketSyscalls.SendMarker, context.RequestAborted);
                }

                // Which connection served this request: the client checks it stays the same one.
                return context.Response.WriteAsync("ok " + context.Connection.Id, context.RequestAborted);
            }),
            new TestHostOptions());

        var stopwatch = Stopwatch.StartNew();
        await using var bystander = await WireClient.ConnectAsync(host.Port);
        var bystanderId = await GetOkAsync(bystander);

        await using var victim = await WireClient.ConnectAsync(host.Port);
        await victim.SendAsync(where == "send" ? Wire.Get("/send-fault") : Wire.Get("/receive-fault", FaultingSocketSyscalls.ReceiveMarker));
        var end = await victim.ReadToEndAsync(s_wait);

        var failures = host.Logs.ForEvent("LoopConnectionFailed").ToList();
        var context = $"victim: {end}; injected send faults {syscalls.SendFaults}, receive faults {syscalls.ReceiveFaults}; transport log:\n"
            + string.Join('\n', host.Logs.Records.Where(r => r.Category.StartsWith("ZeroCopy", StringComparison.Ordinal) || r.Level >= LogLevel.Warning).Select(r => $"{r.Level} {r.EventId.Name}: {r.Message} {r.Exception?.GetType().Name}: {r.Exception?.Message}"));
        Assert.True(end.Kind == CloseKind.Reset && end.Data.Length == 0, "The faulted connection must be reset at once (RST, no response byte). " + context);
        Assert.Equal(where == "send" ? 1 : 0, syscalls.SendFaults);
        Assert.Equal(where == "receive" ? 1 : 0, syscalls.ReceiveFaults);

        // Logged once, at Error, with the faulted connection's id and the exception itself.
        var failure = Assert.Single(failures);
        Assert.Equal(LogLevel.Error, failure.Level);
        Assert.StartsWith("Injected fault:", failure.Exception?.Message, StringComparison.Ordinal);
        var loggedId = ConnectionIdInMessage().Match(failure.Message).Groups[1].Value;
        Assert.NotEqual(bystanderId, loggedId);
        if (where == "send")
        {
            Assert.Equal(await faultedId.Task.WaitAsync(s_wait, TestContext.Current.CancellationToken), loggedId);
        }

        // The loop survived: nothing logged that a loop or a callback outside a connection failed.
        Assert.DoesNotContain(host.Logs.Records, r => r.EventId.Name is "LoopCallbackFailed" or "LoopCrashed" or "LoopFailed");

        // The bystander on the same (only) loop is still served, on the same connection, and so is a new one.
        Assert.Equal(bystanderId, await GetOkAsync(bystander));
        await using var newcomer = await WireClient.ConnectAsync(host.Port);
        Assert.NotEqual(bystanderId, await GetOkAsync(newcomer));
        // All three connections were the EventLoop engine's (the guard refuses any other).
        Assert.Equal(3, host.Services.GetRequiredService<EngineGuard>().Types.Values.Sum());
        Figures.Report($"loop callback fault ({where}): time", $"{Figures.Seconds(stopwatch.Elapsed)}");
    }

    /// <summary>A keep-alive GET of the "ok" endpoint; returns the id of the connection that served it.</summary>
    private static async Task<string> GetOkAsync(WireClient client)
    {
        await client.SendAsync(Wire.Get("/ok"));
        var response = await client.ReadResponseAsync(timeout: s_wait);
        Assert.Equal(200, response.Status);
        Assert.StartsWith("ok ", response.BodyText, StringComparison.Ordinal);
        return response.BodyText[3..];
    }
}

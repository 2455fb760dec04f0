using System.Net.WebSockets;
using System.Text;

namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>Scenario 11: an upgraded connection (WebSocket) works on both transports.</summary>
public sealed class UpgradeConformanceTests
{
    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task WebSocket_echo_round_trips_text_and_large_binary_messages(TransportKind kind)
    {
        var serverClose = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await ConformanceHost.StartAsync(kind, app =>
        {
            app.UseWebSockets();
            app.Map("/ws", async context =>
            {
                if (!context.WebSockets.IsWebSocketRequest)
                {
                    context.Response.StatusCode = 400;
                    return;
                }

                using var socket = await context.WebSockets.AcceptWebSocketAsync();
                var buffer = new byte[32 * 1024];
                while (true)
                {
                    var result = await socket.ReceiveAsync(buffer, context.RequestAborted);
                    if (result.MessageType == WebSocketMessageType.Close)
                    {
                        serverClose.TrySetResult($"{result.CloseStatus} {result.CloseStatusDescription}");
                        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", context.RequestAborted);
                        return;
                    }

                    await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, context.RequestAborted);
                }
            });
        });

        using var ws = new ClientWebSocket();
        var uri = new UriBuilder(host.BaseAddress) { Scheme = "ws", Path = "/ws" }.Uri;
        using var cts = Wire.Timeout(TimeSpan.FromSeconds(30));
        await ws.ConnectAsync(uri, cts.Token);

        var messages = new List<(WebSocketMessageType Type, byte[] Data)>
        {
            (WebSocketMessageType.Text, Encoding.UTF8.GetBytes("hello")),
            (WebSocketMessageType.Binary, []),
            (WebSocketMessageType.Binary, ConformanceData.Bytes((1024 * 1024) + 7, seed: 11)),
            (WebSocketMessageType.Text, Encoding.UTF8.GetBytes(new string('x', 100_000))),
        };
        foreach (var (type, data) in messages)
        {
            await ws.SendAsync(data, type, endOfMessage: true, cts.Token);
            var (receivedType, received) = await ReceiveMessageAsync(ws, cts.Token);
            Assert.Equal(type, receivedType);
            Assert.True(data.AsSpan().SequenceEqual(received), $"{type} message of {data.Length} bytes came back different ({received.Length} bytes).");
        }

        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);
        Assert.Equal(WebSocketState.Closed, ws.State);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, ws.CloseStatus);
        Assert.Equal("bye", ws.CloseStatusDescription);
        Assert.Equal("NormalClosure done", await serverClose.Task.Within(TimeSpan.FromSeconds(10), "the server to see the close"));
        host.AssertClean();
    }

    [Fact]
    public Task WebSocket_client_vanishing_without_a_close_handshake_is_seen_identically_by_the_app()
        => Compare.SameAsync(async kind =>
        {
            var receiving = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var outcome = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            await using var host = await ConformanceHost.StartAsync(kind, app =>
            {
                app.UseWebSockets();
                app.MapGet("/ping", () => "pong");
                app.Map("/ws", async context =>
                {
                    using var socket = await context.WebSockets.AcceptWebSocketAsync();
                    var buffer = new byte[1024];
                    try
                    {
                        receiving.TrySetResult();
                        var result = await socket.ReceiveAsync(buffer, CancellationToken.None);
                        outcome.TrySetResult($"received {result.MessageType}");
                    }
                    catch (Exception ex)
                    {
                        var aborted = await ZeroCopy.AspNetCore.Tests.Infrastructure.Poll.UntilAsync(() => context.RequestAborted.IsCancellationRequested, TimeSpan.FromSeconds(10));
                        outcome.TrySetResult($"{ex.GetType().Name} ({ex.InnerException?.GetType().Name}) state={socket.State} RequestAborted={aborted}");
                    }
                });
            });

            // A raw upgrade, then an RST: the client process "dies" mid-conversation.
            var client = await host.ConnectAsync();
            await client.SendAsync(Wire.Request("GET", "/ws", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="));
            var upgrade = await client.ReadResponseAsync(noBody: true);
            Assert.Equal(101, upgrade.Status);
            await receiving.Task.Within(TimeSpan.FromSeconds(10), "the server to start receiving");
            client.Reset();
            var observed = await outcome.Task.Within(TimeSpan.FromSeconds(10), "the server to notice the reset");
            await ConnectionLifecycleConformanceTests.AssertHealthyAsync(host);
            host.AssertClean();
            await client.DisposeAsync();
            return $"101 head: {upgrade.NormalizedHead.Replace("\r\n", "|", StringComparison.Ordinal)}; app: {observed}";
        });

    private static async Task<(WebSocketMessageType, byte[])> ReceiveMessageAsync(ClientWebSocket ws, CancellationToken token)
    {
        using var message = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var result = await ws.ReceiveAsync(buffer, token);
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return (result.MessageType, message.ToArray());
            }
        }
    }
}

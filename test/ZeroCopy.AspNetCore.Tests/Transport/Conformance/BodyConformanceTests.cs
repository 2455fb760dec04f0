using System.Globalization;
using System.Net;
using System.Security.Cryptography;

namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>
/// Scenarios 1-3: request and response bodies of every size and framing reach the other side byte
/// for byte, on Kestrel's socket transport and on the zero-copy transport.
/// </summary>
public sealed class BodyConformanceTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    public static TheoryData<TransportKind, int, bool> EchoCases()
    {
        var data = new TheoryData<TransportKind, int, bool>();
        foreach (var kind in Enum.GetValues<TransportKind>())
        {
            foreach (var size in new[] { 0, 1, 64 * 1024, (1024 * 1024) + 3 })
            {
                data.Add(kind, size, false);
                data.Add(kind, size, true);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(EchoCases))]
    public async Task Posted_body_is_echoed_byte_exact(TransportKind kind, int size, bool chunked)
    {
        await using var host = await ConformanceHost.StartAsync(kind, MapEndpoints);
        var payload = ConformanceData.Bytes(size, seed: size + 1);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/echo") { Content = new ByteArrayContent(payload) };
        if (chunked)
        {
            request.Headers.TransferEncodingChunked = true;
            request.Content.Headers.ContentLength = null;
        }

        using var response = await host.Client.SendAsync(request, TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(chunked ? "none" : size.ToString(CultureInfo.InvariantCulture), response.Headers.GetValues("X-Request-Content-Length").Single());
        Assert.Equal(chunked ? "chunked" : string.Empty, response.Headers.GetValues("X-Request-Transfer-Encoding").Single());
        Assert.Equal(size, body.Length);
        Assert.True(payload.AsSpan().SequenceEqual(body), "The echoed body differs from the posted one.");
        host.AssertClean();
    }

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task Fifty_MiB_upload_is_hashed_server_side_byte_exact(TransportKind kind)
    {
        await using var host = await ConformanceHost.StartAsync(kind, MapEndpoints, s => s.Kestrel = o => o.Limits.MaxRequestBodySize = null);
        var payload = ConformanceData.Large;
        using var content = new ByteArrayContent(payload);
        using var response = await host.Client.PostAsync("/hash", content, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"{payload.Length} {ConformanceData.Sha256(payload)}", text);
        host.AssertClean();
    }

    [Theory]
    [InlineData(TransportKind.Socket, false)]
    [InlineData(TransportKind.Socket, true)]
    [InlineData(TransportKind.ZeroCopy, false)]
    [InlineData(TransportKind.ZeroCopy, true)]
    [InlineData(TransportKind.EventLoop, false)]
    [InlineData(TransportKind.EventLoop, true)]
    public async Task Body_over_MaxRequestBodySize_is_rejected_with_413(TransportKind kind, bool chunked)
    {
        await using var host = await ConformanceHost.StartAsync(kind, MapEndpoints, s => s.Kestrel = o => o.Limits.MaxRequestBodySize = 64 * 1024);
        await using var client = await host.ConnectAsync();
        if (chunked)
        {
            // 80 KiB in chunks of 8 KiB: the limit is crossed while the app reads.
            var body = new MemoryStream();
            var chunk = ConformanceData.Bytes(8192, seed: 3);
            for (var i = 0; i < 10; i++)
            {
                body.Write("2000\r\n"u8);
                body.Write(chunk);
                body.Write("\r\n"u8);
            }

            body.Write("0\r\n\r\n"u8);
            await client.SendAsync(Wire.Request("POST", "/hash", "Transfer-Encoding: chunked"));
            await client.SendAsync(body.ToArray());
        }
        else
        {
            // Declared too large: rejected before any body byte is needed.
            await client.SendAsync(Wire.Request("POST", "/hash", "Content-Length: 1048576"));
        }

        var response = await client.ReadResponseAsync();

        Assert.Equal(413, response.Status);
        Assert.Equal("close", response.Header("Connection"));
        var end = await client.ReadToEndAsync(TimeSpan.FromSeconds(10));
        Assert.NotEqual(CloseKind.StillOpen, end.Kind);
        host.AssertIntendedTransport();
    }

    [Fact]
    public async Task Body_over_MaxRequestBodySize_gives_identical_responses_on_both_transports()
    {
        var observed = new Dictionary<TransportKind, string>();
        foreach (var kind in Compare.Kinds)
        {
            await using var host = await ConformanceHost.StartAsync(kind, MapEndpoints, s => s.Kestrel = o => o.Limits.MaxRequestBodySize = 64 * 1024);
            await using var client = await host.ConnectAsync();
            await client.SendAsync(Wire.Request("POST", "/hash", "Content-Length: 1048576"));
            var response = await client.ReadResponseAsync();
            var end = await client.ReadToEndAsync(TimeSpan.FromSeconds(10));
            observed[kind] = response.Normalized + "\nthen " + end.Kind + " after " + end.Data.Length + " more bytes";
            host.AssertIntendedTransport();
        }

        Compare.AssertSameAsSocket(observed);
    }

    [Theory]
    [InlineData(TransportKind.Socket, "body")]
    [InlineData(TransportKind.Socket, "writer")]
    [InlineData(TransportKind.Socket, "writer-large-hint")]
    [InlineData(TransportKind.ZeroCopy, "body")]
    [InlineData(TransportKind.ZeroCopy, "writer")]
    [InlineData(TransportKind.ZeroCopy, "writer-large-hint")]
    [InlineData(TransportKind.EventLoop, "body")]
    [InlineData(TransportKind.EventLoop, "writer")]
    [InlineData(TransportKind.EventLoop, "writer-large-hint")]
    public async Task Twenty_MiB_streamed_response_in_random_chunks_is_byte_exact(TransportKind kind, string mode)
    {
        const int Size = 20 * 1024 * 1024;
        await using var host = await ConformanceHost.StartAsync(kind, MapEndpoints);
        using var response = await host.Client.GetAsync($"/stream?size={Size}&mode={mode}", HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        await using var stream = await response.Content.ReadAsStreamAsync(TestContext.Current.CancellationToken);
        var received = new byte[Size + 1];
        var total = 0;
        int n;
        while ((n = await stream.ReadAsync(received.AsMemory(total, Math.Min(received.Length - total, 256 * 1024)), TestContext.Current.CancellationToken)) > 0)
        {
            total += n;
            Assert.True(total <= Size, "More bytes than were written.");
        }

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(response.Headers.TransferEncodingChunked, "The response should be chunked (no Content-Length).");
        Assert.Equal(Size, total);
        Assert.True(received.AsSpan(0, Size).SequenceEqual(ConformanceData.Large.AsSpan(0, Size)), "The streamed body differs from what was written.");
        host.AssertClean();
    }

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task Content_length_response_written_through_BodyWriter_is_byte_exact(TransportKind kind)
    {
        const int Size = (8 * 1024 * 1024) + 5;
        await using var host = await ConformanceHost.StartAsync(kind, MapEndpoints);
        using var response = await host.Client.GetAsync($"/stream?size={Size}&mode=writer&length=true", TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);

        Assert.Equal(Size, response.Content.Headers.ContentLength);
        Assert.False(response.Headers.TransferEncodingChunked ?? false);
        Assert.True(body.AsSpan().SequenceEqual(ConformanceData.Large.AsSpan(0, Size)), "The body differs from what was written.");
        host.AssertClean();
    }

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task Flushed_bytes_reach_the_client_before_the_response_ends(TransportKind kind)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await ConformanceHost.StartAsync(kind, app => app.MapGet("/sse", async context =>
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync("data: first\n\n");
            await context.Response.Body.FlushAsync();
            await release.Task.WaitAsync(s_timeout);
            await context.Response.WriteAsync("data: second\n\n");
        }));
        await using var client = await host.ConnectAsync();
        await client.SendAsync(Wire.Request("GET", "/sse"));

        // Headers and the first chunk must arrive while the endpoint still waits.
        var expectedPrefix = "d\r\ndata: first\n\n\r\n"u8.ToArray();
        var headAndFirst = await ReadHeadAsync(client);
        Assert.Contains("Transfer-Encoding: chunked", headAndFirst, StringComparison.Ordinal);
        var first = await client.ReadExactAsync(expectedPrefix.Length, TimeSpan.FromSeconds(10));
        Assert.Equal(expectedPrefix, first);

        release.SetResult();
        var rest = await client.ReadExactAsync("e\r\ndata: second\n\n\r\n0\r\n\r\n"u8.Length, TimeSpan.FromSeconds(10));
        Assert.Equal("e\r\ndata: second\n\n\r\n0\r\n\r\n"u8.ToArray(), rest);
        host.AssertIntendedTransport();
    }

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task Large_response_headers_are_sent_intact(TransportKind kind)
    {
        var big = new string('h', 60 * 1024);
        await using var host = await ConformanceHost.StartAsync(kind, app => app.MapGet("/big-headers", context =>
        {
            for (var i = 0; i < 4; i++)
            {
                context.Response.Headers[$"X-Big-{i}"] = big;
            }

            return context.Response.WriteAsync("ok");
        }));
        await using var client = await host.ConnectAsync();
        for (var round = 0; round < 2; round++)
        {
            await client.SendAsync(Wire.Request("GET", "/big-headers"));
            var response = await client.ReadResponseAsync();
            Assert.Equal(200, response.Status);
            for (var i = 0; i < 4; i++)
            {
                Assert.Equal(big, response.Header($"X-Big-{i}"));
            }

            Assert.Equal("ok", response.BodyText);
        }

        host.AssertClean();
    }

    private static async Task<string> ReadHeadAsync(WireClient client)
    {
        // Reads the status line and headers only (the chunked body is read by the caller).
        var bytes = new List<byte>();
        while (bytes.Count < 4 || !(bytes[^4] == '\r' && bytes[^3] == '\n' && bytes[^2] == '\r' && bytes[^1] == '\n'))
        {
            bytes.Add((await client.ReadExactAsync(1, TimeSpan.FromSeconds(10)))[0]);
        }

        return System.Text.Encoding.ASCII.GetString([.. bytes]);
    }

    internal static void MapEndpoints(WebApplication app)
    {
        app.MapPost("/echo", async context =>
        {
            context.Response.Headers["X-Request-Content-Length"] = context.Request.ContentLength?.ToString(CultureInfo.InvariantCulture) ?? "none";
            context.Response.Headers["X-Request-Transfer-Encoding"] = context.Request.Headers.TransferEncoding.ToString();
            await context.Request.Body.CopyToAsync(context.Response.Body, context.RequestAborted);
        });

        app.MapPost("/hash", async context =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long length = 0;
            var reader = context.Request.BodyReader;
            while (true)
            {
                var result = await reader.ReadAsync(context.RequestAborted);
                foreach (var segment in result.Buffer)
                {
                    hash.AppendData(segment.Span);
                    length += segment.Length;
                }

                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }

            await context.Response.WriteAsync($"{length} {Convert.ToHexStringLower(hash.GetHashAndReset())}");
        });

        app.MapGet("/stream", async context =>
        {
            var size = int.Parse(context.Request.Query["size"]!, CultureInfo.InvariantCulture);
            var mode = context.Request.Query["mode"].ToString();
            if (context.Request.Query["length"] == "true")
            {
                context.Response.ContentLength = size;
            }

            var data = ConformanceData.Large.AsMemory(0, size);
            var random = new Random(size);
            var offset = 0;
            while (offset < size)
            {
                var chunk = Math.Min(size - offset, random.Next(1, 256 * 1024));
                switch (mode)
                {
                    case "body":
                        await context.Response.Body.WriteAsync(data.Slice(offset, chunk), context.RequestAborted);
                        break;
                    default:
                        var writer = context.Response.BodyWriter;
                        var memory = writer.GetMemory(mode == "writer-large-hint" ? 1024 * 1024 : random.Next(0, 8192));
                        chunk = Math.Min(chunk, memory.Length);
                        data.Slice(offset, chunk).CopyTo(memory);
                        writer.Advance(chunk);
                        if (random.Next(4) == 0)
                        {
                            await writer.FlushAsync(context.RequestAborted);
                        }

                        break;
                }

                offset += chunk;
            }
        });
    }
}

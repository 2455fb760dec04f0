using System.Globalization;
using System.Text;

namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>Scenarios 4-5: pipelining and keep-alive on one connection.</summary>
public sealed class PipeliningConformanceTests
{
    private const int PipelinedRequests = 200;

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task Two_hundred_pipelined_requests_in_one_send_are_answered_in_order(TransportKind kind)
    {
        await using var host = await ConformanceHost.StartAsync(kind, MapEndpoints);
        var transcript = await RunPipelineAsync(host, (i, response) =>
        {
            var (method, expected) = Expectation(i);
            Assert.True(response.Status == 200, $"request {i} ({method}): status {response.Status}");
            if (method == "HEAD")
            {
                Assert.Empty(response.Body);
                Assert.Equal(expected.Length.ToString(CultureInfo.InvariantCulture), response.Header("Content-Length"));
            }
            else
            {
                Assert.True(expected.AsSpan().SequenceEqual(response.Body), $"request {i} ({method}): body differs");
            }
        });

        Assert.Equal(PipelinedRequests + 1, transcript.Count);
        Assert.Equal(1, host.ConnectionCount);
        host.AssertClean();
    }

    [Fact]
    public async Task Pipelined_responses_are_identical_on_both_transports()
    {
        var transcripts = new Dictionary<TransportKind, List<string>>();
        foreach (var kind in Compare.Kinds)
        {
            await using var host = await ConformanceHost.StartAsync(kind, MapEndpoints);
            transcripts[kind] = await RunPipelineAsync(host, (_, _) => { });
            host.AssertIntendedTransport();
        }

        Compare.AssertSameAsSocket(transcripts);
    }

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task Five_hundred_sequential_requests_share_one_keep_alive_connection(TransportKind kind)
    {
        await using var host = await ConformanceHost.StartAsync(kind, MapEndpoints);
        await using var client = await host.ConnectAsync();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 500; i++)
        {
            var body = Encoding.ASCII.GetBytes($"request {i}");
            await client.SendAsync(i % 2 == 0
                ? Wire.Request("GET", $"/conn?i={i}")
                : Wire.Request("POST", $"/conn?i={i}", $"Content-Length: {body.Length}") + Encoding.ASCII.GetString(body));
            var response = await client.ReadResponseAsync();
            Assert.Equal(200, response.Status);
            var parts = response.BodyText.Split(' ');
            Assert.Equal(i.ToString(CultureInfo.InvariantCulture), parts[1]);
            Assert.Equal(i % 2 == 0 ? "0" : body.Length.ToString(CultureInfo.InvariantCulture), parts[2]);
            Assert.Null(response.Header("Connection"));
            ids.Add(parts[0]);
        }

        Assert.Single(ids);
        Assert.Equal(1, host.ConnectionCount);
        host.AssertClean();
    }

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task Unread_request_body_is_drained_and_the_connection_reused(TransportKind kind)
    {
        await using var host = await ConformanceHost.StartAsync(kind, MapEndpoints);
        await using var client = await host.ConnectAsync();
        var body = ConformanceData.Large.AsMemory(0, 512 * 1024);

        // /text/{i} never reads the body: Kestrel drains it before the next request.
        await client.SendAsync(Wire.Request("POST", "/text/unread", $"Content-Length: {body.Length}"));
        var sending = client.SendAsync(body);
        var first = await client.ReadResponseAsync();
        await sending.Within(TimeSpan.FromSeconds(15), "the body to be sent");
        await client.SendAsync(Wire.Request("GET", "/text/next"));
        var second = await client.ReadResponseAsync();

        Assert.Equal(405, first.Status);
        Assert.Equal("text-next", second.BodyText);
        Assert.Equal(1, host.ConnectionCount);
        host.AssertClean();
    }

    /// <summary>Sends the pipelined batch in one send, then one more request; returns every normalized response.</summary>
    private static async Task<List<string>> RunPipelineAsync(ConformanceHost host, Action<int, WireResponse> check)
    {
        await using var client = await host.ConnectAsync();
        var batch = new StringBuilder();
        for (var i = 0; i < PipelinedRequests; i++)
        {
            batch.Append(RequestText(i));
        }

        await client.SendAsync(batch.ToString());
        var transcript = new List<string>();
        for (var i = 0; i < PipelinedRequests; i++)
        {
            var response = await client.ReadResponseAsync(noBody: Expectation(i).Method == "HEAD");
            check(i, response);
            transcript.Add(response.Normalized);
        }

        // The connection is still usable.
        await client.SendAsync(Wire.Request("GET", "/text/after"));
        var after = await client.ReadResponseAsync();
        Assert.Equal(200, after.Status);
        Assert.Equal("text-after", after.BodyText);
        transcript.Add(after.Normalized);
        return transcript;
    }

    private static string RequestText(int i)
    {
        var (method, expected) = Expectation(i);
        switch (i % 5)
        {
            case 1:
                return Wire.Request(method, $"/echo/{i}", $"Content-Length: {expected.Length}") + Encoding.ASCII.GetString(expected);
            case 4:
                var sb = new StringBuilder(Wire.Request(method, $"/echo/{i}", "Transfer-Encoding: chunked"));
                for (var offset = 0; offset < expected.Length; offset += 7)
                {
                    var piece = Encoding.ASCII.GetString(expected, offset, Math.Min(7, expected.Length - offset));
                    sb.Append(CultureInfo.InvariantCulture, $"{piece.Length:x}\r\n{piece}\r\n");
                }

                return sb.Append("0\r\n\r\n").ToString();
            default:
                return Wire.Request(method, i % 5 == 3 ? $"/chunked/{i}" : $"/text/{i}");
        }
    }

    private static (string Method, byte[] Body) Expectation(int i) => (i % 5) switch
    {
        1 => ("POST", Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat($"body-{i};", (i * 37) % 300)))),
        2 => ("HEAD", Encoding.ASCII.GetBytes($"text-{i}")),
        3 => ("GET", Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat($"chunk-{i}-", i)))),
        4 => ("POST", Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat($"c{i}", i % 13)))),
        _ => ("GET", Encoding.ASCII.GetBytes($"text-{i}")),
    };

    private static void MapEndpoints(WebApplication app)
    {
        app.MapMethods("/text/{i}", ["GET", "HEAD"], (HttpContext context, string i) =>
        {
            var body = $"text-{i}";
            context.Response.ContentLength = body.Length;
            return context.Response.WriteAsync(body);
        });
        app.MapGet("/chunked/{i}", async (HttpContext context, int i) =>
        {
            for (var n = 0; n < i; n++)
            {
                await context.Response.WriteAsync($"chunk-{i}-");
            }
        });
        app.MapPost("/echo/{i}", async context => await context.Request.Body.CopyToAsync(context.Response.Body, context.RequestAborted));
        app.MapMethods("/conn", ["GET", "POST"], async context =>
        {
            var length = 0;
            var buffer = new byte[1024];
            int n;
            while ((n = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                length += n;
            }

            await context.Response.WriteAsync($"{context.Connection.Id} {context.Request.Query["i"]} {length}");
        });
    }
}

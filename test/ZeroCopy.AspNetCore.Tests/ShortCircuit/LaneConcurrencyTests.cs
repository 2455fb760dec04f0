using System.Text;

namespace ZeroCopy.AspNetCore.Tests.ShortCircuit;

/// <summary>
/// Issue 16 under concurrency: 16 connections at once, each pipelining a seeded random sequence of
/// lane requests (GET, HEAD, 304, a gzip sibling, a 40 KB body) and Kestrel requests (Range, an
/// endpoint, a 100 KB file, HTTP/1.0; late on every other connection a POST with a body) in writes
/// of 1 to 8 requests. Proves that every response is, byte for byte (Date aside), the lane-off
/// server's answer to that request kind, in order, on both engines, and that the lane answered at
/// least every eligible request ahead of the first request with a body on each connection.
/// </summary>
public sealed class LaneConcurrencyTests : IDisposable
{
    private const int Connections = 16;
    private const int RequestsPerConnection = 120;

    private readonly LaneSite _site = new();

    public void Dispose() => _site.Dispose();

    private sealed record Kind(string Name, string Request, bool Lane, bool Body)
    {
        public bool Head => Request.StartsWith("HEAD ", StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task Concurrent_pipelined_connections_get_the_lane_off_bytes_in_order(ZeroCopyTransportEngine engine)
    {
        Engines.Require(engine);
        await using var pair = await _site.StartAsync(engine);
        string? etag = null;
        foreach (var server in new[] { pair.On, pair.Off })
        {
            await using var connection = await RawHttp.ConnectAsync(server.Port);
            await connection.SendAsync(Wire.Get("/data.json", "Connection: close"));
            etag = (await connection.ReadResponseAsync(head: false))?.Header("ETag");
        }

        Kind[] kinds =
        [
            new("lane GET", Wire.Get("/small.txt"), true, false),
            new("lane HEAD", Wire.Request("HEAD", "/page.html"), true, false),
            new("lane 304", Wire.Get("/data.json", "If-None-Match: " + etag), true, false),
            new("lane gzip", Wire.Get("/app.js", "Accept-Encoding: gzip"), true, false),
            new("lane 40 KB", Wire.Get("/mid.bin"), true, false),
            new("Kestrel Range", Wire.Get("/small.txt", "Range: bytes=5-25"), false, false),
            new("Kestrel endpoint", Wire.Get(LaneEndpoints.Hello), false, false),
            new("Kestrel 100 KB", Wire.Get("/big.bin"), false, false),
            new("Kestrel HTTP/1.0", "GET /page.html HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n", false, false),
            new("Kestrel POST", "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n\r\nping", false, true),
        ];

        // What the lane-off server answers to each kind on its own.
        var expected = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var kind in kinds)
        {
            await using var connection = await RawHttp.ConnectAsync(pair.Off.Port);
            await connection.SendAsync(kind.Request);
            var answer = await connection.ReadResponseAsync(kind.Head);
            Assert.True(answer is { Complete: true }, $"{kind.Name}: {answer}");
            expected[kind.Name] = answer.Masked;
        }

        // A request with a body hands the rest of its connection to Kestrel: only every other
        // connection has one, late, so most of the traffic is eligible for the lane.
        var plans = Enumerable.Range(0, Connections).Select(c =>
        {
            var random = new Random(1000 + c);
            var plan = Enumerable.Range(0, RequestsPerConnection).Select(_ => kinds[random.Next(kinds.Length - 1)]).ToArray();
            if (c % 2 == 1)
            {
                plan[random.Next(RequestsPerConnection * 3 / 4, RequestsPerConnection)] = kinds[^1];
            }

            return plan;
        }).ToArray();

        foreach (var server in new[] { pair.On, pair.Off })
        {
            var before = server.LaneAnswers;
            var failures = await Task.WhenAll(plans.Select((plan, c) => RunAsync(server, plan, expected, seed: c)));
            var laneAnswered = server.LaneAnswers - before;
            var minimum = plans.Sum(plan => plan.TakeWhile(k => !k.Body).Count(k => k.Lane));
            var all = failures.SelectMany(f => f).ToList();
            TestContext.Current.TestOutputHelper?.WriteLine($"{engine}, lane {(server.Lane ? "on" : "off")}: {Connections * RequestsPerConnection} requests on {Connections} connections, {all.Count} wrong; the lane answered {laneAnswered} (at least {minimum} expected with it on)");
            Assert.True(all.Count == 0, LaneExchange.Report($"wrong answers with the lane {(server.Lane ? "on" : "off")}", all));
            if (server.Lane)
            {
                Assert.True(laneAnswered >= minimum, $"The lane answered {laneAnswered} requests; at least {minimum} (the eligible ones ahead of each connection's first body) expected.");
            }
            else
            {
                Assert.Equal(0, laneAnswered);
            }
        }

        var errors = pair.Errors();
        Assert.True(errors.Count == 0, string.Join('\n', errors));
    }

    /// <summary>Writes the plan in seeded groups of 1 to 8 requests while reading every answer in order; the mismatches.</summary>
    private static async Task<List<string>> RunAsync(LaneServer server, Kind[] plan, Dictionary<string, string> expected, int seed)
    {
        var failures = new List<string>();
        await using var connection = await RawHttp.ConnectAsync(server.Port);
        await connection.PrimeAsync();
        var random = new Random(seed);
        var groups = new List<byte[]>();
        for (var i = 0; i < plan.Length;)
        {
            var n = Math.Min(random.Next(1, 9), plan.Length - i);
            groups.Add(Encoding.ASCII.GetBytes(string.Concat(plan.Skip(i).Take(n).Select(k => k.Request))));
            i += n;
        }

        var send = Task.Run(async () =>
        {
            foreach (var group in groups)
            {
                await connection.SendAsync(group);
            }
        });
        for (var i = 0; i < plan.Length; i++)
        {
            var answer = await connection.ReadResponseAsync(plan[i].Head);
            if (answer is not { Complete: true })
            {
                failures.Add($"connection {seed}, request {i + 1} ({plan[i].Name}): {(answer is null ? "no answer" : "cut short: " + answer)}");
                break;
            }

            if (!string.Equals(answer.Masked, expected[plan[i].Name], StringComparison.Ordinal))
            {
                failures.Add($"connection {seed}, request {i + 1} ({plan[i].Name}): {RawHttp.FirstDifference(answer.Masked, expected[plan[i].Name])}");
            }
        }

        await send.WaitAsync(RawHttp.DefaultTimeout, TestContext.Current.CancellationToken);
        return failures;
    }
}

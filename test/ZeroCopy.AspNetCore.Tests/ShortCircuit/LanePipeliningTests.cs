using System.Text;

namespace ZeroCopy.AspNetCore.Tests.ShortCircuit;

/// <summary>
/// Issue 16, pipelining and limits: mixes of lane requests (plain GET/HEAD/304 for cached files) and
/// Kestrel requests (a Range, a minimal API endpoint, a file the lane does not send itself, a file
/// not cached yet, HTTP/1.0, POST with a Content-Length or chunked body) pipelined on one connection,
/// sent in one write, one write per request, in random pieces, and one byte per write. Proves that
/// with the lane on every response arrives complete, in request order and byte-identical (Date
/// aside) to the lane-off server's, and that the lane answered at least the eligible requests ahead
/// of the first request with a body, also when their heads arrive split across many segments. Then
/// requests around Kestrel's request-line, header-size and header-count limits:
/// with the lane on, the same answers as with it off (Kestrel's own 414/431), and the lane took the
/// small ones.
/// </summary>
public sealed class LanePipeliningTests : IDisposable
{
    private readonly LaneSite _site = new();

    public void Dispose() => _site.Dispose();

    /// <summary>How a pipelined batch is written.</summary>
    public enum Split
    {
        /// <summary>All requests in one send.</summary>
        OneSend,

        /// <summary>One send per request: segments end where requests end.</summary>
        PerRequest,

        /// <summary>Seeded random pieces of 1 to 40 bytes, one send each.</summary>
        RandomPieces,

        /// <summary>One byte per send (TCP_NODELAY): a head arrives over hundreds of segments.</summary>
        OneBytePerSend,
    }

    /// <summary>One request of a batch: its bytes, whether the lane may take it, whether it has a body.</summary>
    private sealed record Step(LaneProbe Probe, bool Lane, bool Body);

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task Pipelined_mixes_of_lane_and_Kestrel_requests_arrive_in_order_and_byte_exact(ZeroCopyTransportEngine engine)
    {
        Engines.Require(engine);
        await using var pair = await _site.StartAsync(engine);
        var etag = await ETagAsync(pair, "/data.json");

        var l1 = Lane("GET /small.txt", Wire.Get("/small.txt"));
        var l2 = Lane("HEAD /page.html", Wire.Request("HEAD", "/page.html"));
        var l3 = Lane("GET /data.json 304", Wire.Get("/data.json", "If-None-Match: " + etag));
        var l4 = Lane("GET /app.js gzip", Wire.Get("/app.js", "Accept-Encoding: gzip"));
        var l5 = Lane("GET /mid.bin", Wire.Get("/mid.bin"));
        var range = Kestrel("GET /small.txt Range", Wire.Get("/small.txt", "Range: bytes=0-9"));
        var api = Kestrel("GET /api/hello", Wire.Get(LaneEndpoints.Hello));
        var big = Kestrel("GET /big.bin", Wire.Get("/big.bin"));
        var ifMatch = Kestrel("GET /small.txt If-Match", Wire.Get("/small.txt", "If-Match: \"nope\""));
        var http10 = Kestrel("GET /small.txt HTTP/1.0 keep-alive", "GET /small.txt HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n");
        var post = Body("POST /echo (Content-Length)", "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello");
        var chunked = Body("POST /echo (chunked)", "POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
        var getWithBody = Body("GET /small.txt with a body", "GET /small.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc");

        (string Name, Step[] Steps)[] batches =
        [
            ("lane, Kestrel, lane, Kestrel, lane, POST, lane, lane", [l1, range, l2, api, l3, post, l1, l2]),
            ("lane after file bodies sent by Kestrel", [big, l1, big, l2, l5, big, l4]),
            ("lane first, then Kestrel only", [l1, l2, l3, api, range, ifMatch]),
            ("Kestrel first, then lane only", [api, l1, l2, l3, l4, l5]),
            ("uncached file, HTTP/1.0, two POSTs", [l1, Kestrel("GET /uncached.txt", Wire.Get("/uncached.txt")), l1, http10, l1, post, post, l1, range, l1]),
            ("chunked POST then lane", [l2, chunked, l1, l2, l3]),
            ("GET with a body then lane", [l1, getWithBody, l1, l2]),
            ("forty lane requests around Kestrel requests", [.. Enumerable.Range(0, 40).SelectMany(i => i % 10 == 9 ? new[] { api, l1 } : i % 7 == 3 ? [range, l2] : [i % 2 == 0 ? l1 : l3])]),
            // 4 MB of lane answers, past the lane's flush threshold and the socket buffers, around Kestrel's.
            ("a hundred 40 KB lane answers around Kestrel requests", [.. Enumerable.Repeat(l5, 50), api, big, .. Enumerable.Repeat(l5, 50), range]),
        ];

        var failures = new List<string>();
        var laneTotal = 0L;
        var laneBySplit = new Dictionary<Split, long>();
        var seed = 0;
        foreach (var split in Enum.GetValues<Split>())
        {
            foreach (var (name, steps) in batches)
            {
                if ((split == Split.OneBytePerSend && steps.Length > 10) || (split == Split.RandomPieces && steps.Length > 60))
                {
                    // Small writes are slow: the long batches go in one send, per request, and (up to 60 requests) in random pieces.
                    continue;
                }

                seed++;
                var on = await PipelineAsync(pair.On, steps, split, seed);
                var off = await PipelineAsync(pair.Off, steps, split, seed);
                laneTotal += on.Lane;
                var minimum = steps.TakeWhile(s => !s.Body).Count(s => s.Lane);
                var label = $"[{split}] {name}";
                if (on.Answers.Count != steps.Length || off.Answers.Count != steps.Length)
                {
                    failures.Add($"{label}: {steps.Length} requests, {on.Answers.Count} complete answers with the lane on, {off.Answers.Count} with it off");
                }

                for (var i = 0; i < Math.Max(on.Answers.Count, off.Answers.Count); i++)
                {
                    var a = i < on.Answers.Count ? on.Answers[i].Masked : "<none>";
                    var b = i < off.Answers.Count ? off.Answers[i].Masked : "<none>";
                    if (!string.Equals(a, b, StringComparison.Ordinal))
                    {
                        failures.Add($"{label}, response {i + 1} ({(i < steps.Length ? steps[i].Probe.Label : "extra")}): {RawHttp.FirstDifference(a, b)}");
                    }
                }

                if (on.Lane < minimum)
                {
                    failures.Add($"{label}: the lane answered {on.Lane} of the batch; at least {minimum} (the eligible requests before the first body) expected");
                }

                laneBySplit[split] = laneBySplit.GetValueOrDefault(split) + on.Lane;
            }
        }

        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{engine}: the lane answered {laneTotal} pipelined requests ({string.Join(", ", laneBySplit.Select(p => $"{p.Key} {p.Value}"))}); lane metric {pair.On.LaneAnswers}");
        Assert.True(failures.Count == 0, LaneExchange.Report("pipelining failures", failures));
        Assert.Equal(0, pair.Off.LaneAnswers);
        var errors = pair.Errors();
        Assert.True(errors.Count == 0, string.Join('\n', errors));
    }

    /// <summary>
    /// Requests around Kestrel's limits (request line 2,048 bytes, headers 4,096 bytes, 20 header
    /// lines; and the default 32 KiB), each on its own connection followed by a lane request and a
    /// request that closes the connection: the whole byte stream is the same with the lane on and off.
    /// </summary>
    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task Requests_around_Kestrel_header_limits_get_the_lane_off_answer(ZeroCopyTransportEngine engine)
    {
        Engines.Require(engine);
        await using var small = await _site.StartAsync(engine, kestrel: o =>
        {
            o.Limits.MaxRequestLineSize = 2048;
            o.Limits.MaxRequestHeadersTotalSize = 4096;
            o.Limits.MaxRequestHeaderCount = 20;
        });
        await using var defaults = await _site.StartAsync(engine);

        var cases = new List<(string Name, string Request, bool Lane, LanePair Pair)>();
        foreach (var pad in new[] { 10, 100, 1000, 1900, 2000, 2048, 2100, 3000, 3900, 4000, 4050, 4096, 4100, 5000 })
        {
            cases.Add(($"headers padded by {pad} bytes (limit 4,096)", Wire.Get("/small.txt", "X-Pad: " + new string('p', pad)), pad <= 100, small));
        }

        foreach (var length in new[] { 100, 1000, 1020, 1030, 2000, 2030, 2048, 2100, 4000 })
        {
            var target = "/small.txt?q=" + new string('q', length - "GET /small.txt?q= HTTP/1.1\r\n".Length);
            cases.Add(($"request line of {length} bytes (limit 2,048)", Wire.Get(target), false, small));
        }

        foreach (var count in new[] { 2, 5, 9, 10, 11, 19, 20, 21, 30 })
        {
            // Host is one of the lines.
            var headers = Enumerable.Range(0, count - 1).Select(i => $"X-H{i}: {i}").ToArray();
            cases.Add(($"{count} header lines (limit 20)", Wire.Get("/small.txt", headers), count <= 5, small));
        }

        foreach (var pad in new[] { 100, 16_000, 31_000, 32_700, 32_800, 33_000, 40_000 })
        {
            cases.Add(($"headers padded by {pad} bytes (default limit 32 KiB)", Wire.Get("/small.txt", "X-Pad: " + new string('p', pad)), pad <= 100, defaults));
        }

        cases.Add(("101 header lines (default limit 100)", Wire.Get("/small.txt", [.. Enumerable.Range(0, 100).Select(i => $"X-H{i}: {i}")]), false, defaults));
        cases.Add(("request line of 9,000 bytes (default limit 8 KiB)", Wire.Get("/small.txt?q=" + new string('q', 9000)), false, defaults));

        var failures = new List<string>();
        foreach (var (name, request, lane, pair) in cases)
        {
            var bytes = Encoding.ASCII.GetBytes(request + Wire.Get("/page.html") + Wire.Get(LaneEndpoints.Hello, "Connection: close"));
            var before = pair.On.LaneAnswers;
            var on = await StreamAsync(pair.On, bytes);
            var laneAnswered = pair.On.LaneAnswers - before;
            var off = await StreamAsync(pair.Off, bytes);
            if (!string.Equals(on.Masked, off.Masked, StringComparison.Ordinal))
            {
                failures.Add($"{name} (lane on: {on.End}, lane answered {laneAnswered}; lane off: {off.End}): {RawHttp.FirstDifference(on.Masked, off.Masked)}");
            }
            else if (lane && laneAnswered < 1)
            {
                failures.Add($"{name}: well inside the limits, yet the lane answered nothing on the connection");
            }
        }

        Assert.True(failures.Count == 0, LaneExchange.Report("limit failures (answers that differ with the lane on, or small requests the lane left)", failures));
        Assert.True(small.On.LaneAnswers > 0 && defaults.On.LaneAnswers > 0, $"The lane answered {small.On.LaneAnswers} and {defaults.On.LaneAnswers} requests.");
        var errors = small.Errors().Concat(defaults.Errors()).ToList();
        Assert.True(errors.Count == 0, string.Join('\n', errors));
    }

    private static Step Lane(string label, string request) => new(LaneProbe.Of(label, request), Lane: true, Body: false);

    private static Step Kestrel(string label, string request) => new(LaneProbe.Of(label, request), Lane: false, Body: false);

    private static Step Body(string label, string request) => new(LaneProbe.Of(label, request), Lane: false, Body: true);

    /// <summary>The ETag a plain GET gets (asked of both servers, so both caches see the same requests).</summary>
    private static async Task<string> ETagAsync(LanePair pair, string target)
    {
        string? etag = null;
        foreach (var server in new[] { pair.On, pair.Off })
        {
            await using var connection = await RawHttp.ConnectAsync(server.Port);
            await connection.SendAsync(Wire.Get(target, "Connection: close"));
            etag = (await connection.ReadResponseAsync(head: false))?.Header("ETag");
        }

        return etag ?? throw new InvalidOperationException("No ETag for " + target);
    }

    /// <summary>Writes the batch as <paramref name="split"/> says while reading one complete response per request (1xx kept apart), in order.</summary>
    private static async Task<(List<RawAnswer> Answers, long Lane)> PipelineAsync(LaneServer server, Step[] steps, Split split, int seed)
    {
        var bytes = steps.SelectMany(s => s.Probe.Bytes).ToArray();
        var before = server.LaneAnswers;
        await using var connection = await RawHttp.ConnectAsync(server.Port);
        await connection.PrimeAsync();
        var send = split switch
        {
            Split.OneSend => connection.SendAsync(bytes),
            Split.OneBytePerSend => connection.SendInPiecesAsync(bytes, 1),
            Split.PerRequest => SendPerRequestAsync(connection, steps),
            _ => SendRandomPiecesAsync(connection, bytes, seed),
        };
        var answers = new List<RawAnswer>();
        foreach (var step in steps)
        {
            RawAnswer? answer;
            do
            {
                answer = await connection.ReadResponseAsync(step.Probe.Head);
            }
            while (answer is { Complete: true, Status: >= 100 and < 200 });

            if (answer is not { Complete: true })
            {
                break;
            }

            answers.Add(answer);
        }

        await send.WaitAsync(RawHttp.DefaultTimeout, TestContext.Current.CancellationToken);
        return (answers, server.LaneAnswers - before);
    }

    private static async Task SendPerRequestAsync(RawHttp connection, Step[] steps)
    {
        foreach (var step in steps)
        {
            await connection.SendAsync(step.Probe.Bytes);
        }
    }

    private static async Task SendRandomPiecesAsync(RawHttp connection, byte[] bytes, int seed)
    {
        var random = new Random(seed);
        for (var at = 0; at < bytes.Length;)
        {
            var n = Math.Min(random.Next(1, 41), bytes.Length - at);
            await connection.SendAsync(bytes.AsMemory(at, n));
            at += n;
        }
    }

    /// <summary>Sends <see cref="LanePrimer"/> and <paramref name="bytes"/> in one write and reads until the server ends the connection (bounded).</summary>
    internal static async Task<(string Masked, CloseKind End)> StreamAsync(LaneServer server, byte[] bytes)
    {
        await using var connection = await RawHttp.ConnectAsync(server.Port);
        await connection.SendAsync(LanePrimer.Bytes.Concat(bytes).ToArray());
        var (data, end) = await connection.ReadToEndAsync(RawHttp.DefaultTimeout);
        return (RawHttp.MaskDate(data), end);
    }

    [Fact]
    public void Request_line_lengths_are_what_the_cases_say()
    {
        var target = "/small.txt?q=" + new string('q', 2048 - "GET /small.txt?q= HTTP/1.1\r\n".Length);
        Assert.Equal(2048, Encoding.ASCII.GetByteCount("GET " + target + " HTTP/1.1\r\n"));
    }
}

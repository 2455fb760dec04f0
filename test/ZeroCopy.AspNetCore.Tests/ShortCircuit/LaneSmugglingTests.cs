using System.Globalization;
using System.Text;

namespace ZeroCopy.AspNetCore.Tests.ShortCircuit;

/// <summary>
/// Issue 16, request smuggling: a parser in front of Kestrel must never disagree with it about where
/// a request ends (RFC 9112 §11.2). A corpus of connections, each one write of raw bytes: CL.TE,
/// TE.CL, TE.TE with obfuscated Transfer-Encoding, duplicate and conflicting Content-Length,
/// obs-fold, bare LF, bare CR, NUL and other control bytes, over-long lines, bodies (Content-Length
/// and chunked) whose bytes are a request for a cached file, other versions, methods and target
/// forms; each followed by a clean lane-eligible GET and a request that closes the connection; as the
/// connection's first bytes, behind a first request (Kestrel answers a connection's first request
/// itself), and behind a first request and a lane request. Proves that with the lane on every connection's whole byte stream is
/// the one Kestrel sends with the lane off (Date aside), so no request hidden in a body or in a
/// malformed head was answered by the lane; and that the lane did answer the clean requests it was
/// given (the lane request ahead of each case, and the control connections).
/// </summary>
public sealed class LaneSmugglingTests : IDisposable
{
    /// <summary>A request for a cached file: what a smuggler hides in a body.</summary>
    private const string Secret = "GET /secret.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";

    /// <summary>The clean lane-eligible request after each case.</summary>
    private const string Clean = "GET /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n";

    /// <summary>Ends the connection (Kestrel answers it and closes), so most connections end without waiting for a timeout.</summary>
    private const string Closing = "GET /api/hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

    private const string Lane = "GET /small.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";

    /// <summary>How long a connection is read when the server does not end it (a body Kestrel still waits for).</summary>
    private static readonly TimeSpan s_readBound = TimeSpan.FromSeconds(4);

    private readonly LaneSite _site = new();

    public void Dispose() => _site.Dispose();

    /// <summary>The corpus: name and the case's bytes (Latin-1: every char is one byte).</summary>
    public static List<(string Name, string Bytes)> Corpus()
    {
        var cases = new List<(string, string)>();
        var s = Secret.Length.ToString(CultureInfo.InvariantCulture);
        var chunkedSecret = Secret.Length.ToString("x", CultureInfo.InvariantCulture) + "\r\n" + Secret + "\r\n0\r\n\r\n";
        const string Post = "POST /echo HTTP/1.1\r\nHost: localhost\r\n";
        const string Get = "GET /small.txt HTTP/1.1\r\nHost: localhost\r\n";

        // CL.TE and TE.CL.
        cases.Add(("CL.TE: POST, Content-Length 4 with a zero chunk, then a request", Post + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + Secret));
        cases.Add(("CL.TE: GET, Content-Length covering a request after the zero chunk", Get + $"Content-Length: {5 + Secret.Length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + Secret));
        cases.Add(("TE.CL: POST, chunk holding a request, Content-Length 3", Post + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n" + chunkedSecret));
        cases.Add(("TE.CL: GET, chunk holding a request, Content-Length 4", Get + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + chunkedSecret));
        cases.Add(("TE.CL: Content-Length first", Get + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedSecret));

        // TE.TE: Transfer-Encoding obfuscated, alone (chunked body holding a request) and with a Content-Length.
        string[] transferEncodings =
        [
            "Transfer-Encoding: chunked ", "Transfer-Encoding:  chunked", "Transfer-Encoding:\tchunked", "Transfer-Encoding: \tchunked\t",
            "Transfer-Encoding: Chunked", "Transfer-Encoding: CHUNKED", "Transfer-Encoding: xchunked", "Transfer-Encoding: chunkedx",
            "Transfer-Encoding: chunked, identity", "Transfer-Encoding: identity, chunked", "Transfer-Encoding: gzip, chunked",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: x", "Transfer-Encoding: x\r\nTransfer-Encoding: chunked",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", "Transfer-Encoding : chunked", "Transfer-Encoding\t: chunked",
            "Transfer_Encoding: chunked", "Transfer-Encoding:\u000bchunked", "Transfer-Encoding:\u000cchunked", "Transfer-Encoding: \"chunked\"",
            "X-Fold: a\r\n Transfer-Encoding: chunked", "X-Fold: a\r\n\tTransfer-Encoding: chunked", "Transfer-Encoding:\r\n chunked",
            "transfer-encoding: chunked", "TRANSFER-ENCODING: chunked", "Transfer-Encoding: chunked\u0000", "Transfer-Encoding: ch\u0000unked",
            "Transfer-Encoding: chunked\rX: y", "Transfer-Encoding: chunked\nX: y", "X: y\nTransfer-Encoding: chunked",
            "Transfer-Encoding: \u00e7hunked", "Transfer-Encoding:",
        ];
        foreach (var te in transferEncodings)
        {
            var shown = Printable(te);
            cases.Add(($"TE.TE: POST, {shown}", Post + te + "\r\n\r\n" + chunkedSecret));
            cases.Add(($"TE.TE: GET, {shown}, Content-Length 4", Get + te + "\r\nContent-Length: 4\r\n\r\n" + chunkedSecret));
        }

        // Content-Length: duplicate, conflicting, malformed; the body is "hello" then a request.
        string[] contentLengths =
        [
            "Content-Length: 5\r\nContent-Length: 5", "Content-Length: 5\r\nContent-Length: 6", "Content-Length: 6\r\nContent-Length: 5",
            "Content-Length: 5, 5", "Content-Length: 5,6", "Content-Length: +5", "Content-Length: 05", "Content-Length: 5 ",
            "Content-Length:\t5", "Content-Length:5", "Content-Length: -1", "Content-Length: 0x5", "Content-Length: 5.0", "Content-Length: 1_0",
            "Content-Length: 99999999999999999999", "Content-Length : 5", "content-length: 5", "CONTENT-LENGTH: 5", "Content-Length: 5\u0000",
            "Content-Length: \u00005", "Content-Length:", "Content-Length: 0\r\nContent-Length: 5", "X-Fold: a\r\n Content-Length: 5",
            "Content-Length:\r\n 5", "Content-Length: 5\rX: y", "X: y\nContent-Length: 5", "Content-Length: " + s + "\nX: y",
        ];
        foreach (var cl in contentLengths)
        {
            cases.Add(($"CL: GET, {Printable(cl)}", Get + cl + "\r\n\r\nhello" + Secret));
        }

        // obs-fold, bare LF, bare CR, control bytes, obs-text.
        cases.Add(("obs-fold in a header", Get + "X-A: a\r\n b\r\n\r\n" + Secret));
        cases.Add(("obs-fold in Host", "GET /small.txt HTTP/1.1\r\nHost: local\r\n host\r\n\r\n" + Secret));
        cases.Add(("obs-fold as the first header line", "GET /small.txt HTTP/1.1\r\n X: y\r\nHost: localhost\r\n\r\n" + Secret));
        cases.Add(("bare LF everywhere", "GET /small.txt HTTP/1.1\nHost: localhost\n\n" + Secret));
        cases.Add(("bare LF after the request line", "GET /small.txt HTTP/1.1\nHost: localhost\r\n\r\n" + Secret));
        cases.Add(("bare LF ending the head", Get + "\n" + Secret));
        cases.Add(("bare LF in the last line", "GET /small.txt HTTP/1.1\r\nHost: localhost\n\r\n" + Secret));
        cases.Add(("bare LF hides a Content-Length covering a request", Get + $"X: a\nContent-Length: {Secret.Length}\r\n\r\n" + Secret));
        cases.Add(("bare CR after the request line", "GET /small.txt HTTP/1.1\rHost: localhost\r\n\r\n" + Secret));
        cases.Add(("bare CR hides a Content-Length covering a request", Get + $"X: a\rContent-Length: {Secret.Length}\r\n\r\n" + Secret));
        cases.Add(("bare CR before the final CRLF", Get + "\r\r\n" + Secret));
        cases.Add(("NUL in a header value", Get + "X: a\u0000b\r\n\r\n" + Secret));
        cases.Add(("NUL in a header name", "GET /small.txt HTTP/1.1\r\nHo\u0000st: localhost\r\n\r\n" + Secret));
        cases.Add(("NUL in the target", "GET /small.txt\u0000 HTTP/1.1\r\nHost: localhost\r\n\r\n" + Secret));
        cases.Add(("NUL before the method", "\u0000GET /small.txt HTTP/1.1\r\nHost: localhost\r\n\r\n" + Secret));
        cases.Add(("DEL and other controls in a value", Get + "X: a\u007f\u0001\u001fb\r\n\r\n" + Secret));
        cases.Add(("obs-text in a value", Get + "X: caf\u00e9\r\n\r\n" + Secret));
        cases.Add(("a byte >= 0x80 in the target", "GET /small\u00e9.txt HTTP/1.1\r\nHost: localhost\r\n\r\n" + Secret));
        cases.Add(("tab in the target", "GET /small.txt\t HTTP/1.1\r\nHost: localhost\r\n\r\n" + Secret));

        // Over-long lines.
        cases.Add(("request line of 10 KB", "GET /small.txt?q=" + new string('q', 10_000) + " HTTP/1.1\r\nHost: localhost\r\n\r\n" + Secret));
        cases.Add(("header line of 40 KB", Get + "X-Long: " + new string('l', 40_000) + "\r\n\r\n" + Secret));
        cases.Add(("header line of 9 KB (within Kestrel's limits)", Get + "X-Long: " + new string('l', 9_000) + "\r\n\r\n" + Secret));
        cases.Add(("150 header lines", Get + string.Concat(Enumerable.Range(0, 150).Select(i => $"X-{i}: {i}\r\n")) + "\r\n" + Secret));

        // Bodies whose bytes are a request for a cached file.
        cases.Add(("GET with a Content-Length body that is a request", Get + $"Content-Length: {Secret.Length}\r\n\r\n" + Secret));
        cases.Add(("HEAD with a Content-Length body that is a request", "HEAD /small.txt HTTP/1.1\r\nHost: localhost\r\n" + $"Content-Length: {Secret.Length}\r\n\r\n" + Secret));
        cases.Add(("GET with Content-Length 0, then a request", Get + "Content-Length: 0\r\n\r\n" + Secret));
        cases.Add(("GET with a chunked body that is a request", Get + "Transfer-Encoding: chunked\r\n\r\n" + chunkedSecret));
        cases.Add(("GET with an empty chunked body, then a request", Get + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + Secret));
        cases.Add(("POST with a Content-Length body that is a request", Post + $"Content-Length: {Secret.Length}\r\n\r\n" + Secret));
        cases.Add(("POST with a chunked body that is a request", Post + "Transfer-Encoding: chunked\r\n\r\n" + chunkedSecret));
        cases.Add(("POST to a cached file with a body that is a request", "POST /small.txt HTTP/1.1\r\nHost: localhost\r\n" + $"Content-Length: {Secret.Length}\r\n\r\n" + Secret));
        cases.Add(("PUT with a body that is a request", "PUT /secret.txt HTTP/1.1\r\nHost: localhost\r\n" + $"Content-Length: {Secret.Length}\r\n\r\n" + Secret));
        cases.Add(("HTTP/1.0 POST with a body that is a request", "POST /echo HTTP/1.0\r\nHost: localhost\r\n" + $"Content-Length: {Secret.Length}\r\n\r\n" + Secret));
        cases.Add(("HTTP/1.0 keep-alive GET with a body that is a request", "GET /small.txt HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n" + $"Content-Length: {Secret.Length}\r\n\r\n" + Secret));
        cases.Add(("Expect: 100-continue with a body that is a request", Post + $"Expect: 100-continue\r\nContent-Length: {Secret.Length}\r\n\r\n" + Secret));
        cases.Add(("Expect: 100-continue on a GET without a body", Get + "Expect: 100-continue\r\n\r\n" + Secret));
        cases.Add(("chunk extensions and trailers around a request", Post + "Transfer-Encoding: chunked\r\n\r\n" + Secret.Length.ToString("x", CultureInfo.InvariantCulture) + ";ext=\"1\"\r\n" + Secret + "\r\n0;end\r\nX-Trailer: 1\r\n\r\n" + Secret));
        cases.Add(("chunk size with leading zeros", Post + "Transfer-Encoding: chunked\r\n\r\n0005\r\nhello\r\n0000\r\n\r\n" + Secret));
        cases.Add(("chunk size with a bare LF", Post + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n" + Secret));
        cases.Add(("chunk size with a space", Post + "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n" + Secret));
        cases.Add(("chunk size overflowing 64 bits", Post + "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nhello\r\n0\r\n\r\n" + Secret));
        cases.Add(("chunk data longer than its size", Post + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n" + Secret));

        // Hosts, upgrades, versions, methods and target forms.
        cases.Add(("two Host lines", "GET /small.txt HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n" + Secret));
        cases.Add(("two different Host lines", "GET /small.txt HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n" + Secret));
        cases.Add(("no Host", "GET /small.txt HTTP/1.1\r\n\r\n" + Secret));
        cases.Add(("Host with a space", "GET /small.txt HTTP/1.1\r\nHost: local host\r\n\r\n" + Secret));
        cases.Add(("Host with a slash", "GET /small.txt HTTP/1.1\r\nHost: localhost/secret.txt\r\n\r\n" + Secret));
        cases.Add(("Upgrade: websocket", Get + "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n" + Secret));
        cases.Add(("Upgrade: h2c", Get + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n" + Secret));
        cases.Add(("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + Secret));
        cases.Add(("CONNECT", "CONNECT localhost:80 HTTP/1.1\r\nHost: localhost:80\r\n\r\n" + Secret));
        cases.Add(("absolute-form for a cached file", "GET http://localhost/secret.txt HTTP/1.1\r\nHost: localhost\r\n\r\n" + Secret));
        cases.Add(("absolute-form with another host", "GET http://evil.example/secret.txt HTTP/1.1\r\nHost: localhost\r\n\r\n" + Secret));
        foreach (var line in new[]
        {
            "GET  /small.txt HTTP/1.1", "get /small.txt HTTP/1.1", "GET /small.txt HTTP/1.1 ", "GET /small.txt  HTTP/1.1", "GET\t/small.txt HTTP/1.1",
            " GET /small.txt HTTP/1.1", "GET /small.txt HTTP/1.2", "GET /small.txt HTTP/2.0", "GET /small.txt HTTP/1.1x", "GET /small.txt HTTP/1",
            "GET /small.txt http/1.1", "GET /small.txt", "GET /small.txt HTTP/0.9", "GET /small.txt HTTP/1.0", "G\u0000T /small.txt HTTP/1.1",
        })
        {
            cases.Add(($"request line '{Printable(line)}'", line + "\r\nHost: localhost\r\n\r\n" + Secret));
        }

        cases.Add(("an empty line before the request", "\r\n" + Get + "\r\n" + Secret));
        cases.Add(("two empty lines before the request", "\r\n\r\n" + Get + "\r\n" + Secret));
        cases.Add(("a request then garbage", Secret + "GARBAGE\r\n\r\n"));
        cases.Add(("a request then a head cut short", Secret + "GET /secret.txt HTTP/1.1\r\nHost: loc"));
        return cases;
    }

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task Every_smuggling_connection_gets_the_same_bytes_with_the_lane_on_and_off(ZeroCopyTransportEngine engine)
    {
        Engines.Require(engine);
        await using var pair = await _site.StartAsync(engine);

        // Controls, one at a time: clean connections the lane must answer (counted per connection).
        (string Name, string Bytes, int Lane)[] controls =
        [
            ("control: a request for the secret file", Secret + Clean + Closing, 2),
            ("control: lane, secret, HEAD", Lane + Secret + "HEAD /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n" + Clean + Closing, 4),
        ];
        var failures = new List<string>();
        foreach (var (name, bytes, lane) in controls)
        {
            var before = pair.On.LaneAnswers;
            var on = await LanePipeliningTests.StreamAsync(pair.On, Encoding.Latin1.GetBytes(bytes));
            var answered = pair.On.LaneAnswers - before;
            var off = await LanePipeliningTests.StreamAsync(pair.Off, Encoding.Latin1.GetBytes(bytes));
            Compare(name, on, off, failures);
            if (answered < lane)
            {
                failures.Add($"{name}: the lane answered {answered} of its {lane} clean requests");
            }
        }

        // The corpus on many connections at once (they share nothing): as a connection's first bytes
        // (Kestrel answers a first request itself, the lane only finds where it ends), behind a
        // first request (the lane reads the case), and behind a first request and a lane request.
        var connections = Corpus()
            .SelectMany(c => new[]
            {
                (Name: "first: " + c.Name, Bytes: c.Bytes + Clean + Closing),
                (Name: c.Name, Bytes: LanePrimer.Request + c.Bytes + Clean + Closing),
                (Name: "lane request, then " + c.Name, Bytes: LanePrimer.Request + Lane + c.Bytes + Clean + Closing),
            })
            .ToList();
        var laneBefore = pair.On.LaneAnswers;
        using var gate = new SemaphoreSlim(16);
        var results = await Task.WhenAll(connections.Select(async c =>
        {
            var bytes = Encoding.Latin1.GetBytes(c.Bytes);
            await gate.WaitAsync(TestContext.Current.CancellationToken);
            try
            {
                var onTask = ReadAsync(pair.On, bytes);
                var offTask = ReadAsync(pair.Off, bytes);
                return (c.Name, On: await onTask, Off: await offTask);
            }
            finally
            {
                gate.Release();
            }
        }));
        var laneAnswered = pair.On.LaneAnswers - laneBefore;
        foreach (var (name, on, off) in results)
        {
            Compare(name, on, off, failures);
        }

        var behindLane = connections.Count(c => c.Name.StartsWith("lane request, then ", StringComparison.Ordinal));
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{engine}: {connections.Count} connections, {failures.Count} failures; the lane answered {laneAnswered} requests on them (at least {behindLane} expected); "
            + $"server ends: lane on {string.Join(", ", results.GroupBy(r => r.On.End).Select(g => $"{g.Key} {g.Count()}"))}, lane off {string.Join(", ", results.GroupBy(r => r.Off.End).Select(g => $"{g.Key} {g.Count()}"))}");
        Assert.True(failures.Count == 0, LaneExchange.Report("smuggling failures (answers that differ with the lane on, or clean requests the lane left)", failures));
        Assert.True(laneAnswered >= behindLane, $"The lane answered {laneAnswered} requests on {connections.Count} connections; each of the {behindLane} connections that start with a clean lane request should have had it answered by the lane.");
        Assert.Equal(0, pair.Off.LaneAnswers);
        var errors = pair.Errors();
        Assert.True(errors.Count == 0, string.Join('\n', errors.Take(20)));
    }

    private static void Compare(string name, (string Masked, CloseKind End) on, (string Masked, CloseKind End) off, List<string> failures)
    {
        if (!string.Equals(on.Masked, off.Masked, StringComparison.Ordinal))
        {
            failures.Add($"{name} (lane on: {on.End}, lane off: {off.End}): {RawHttp.FirstDifference(on.Masked, off.Masked)}");
        }
    }

    /// <summary>One write of <paramref name="bytes"/>, then everything the server sends until it ends the connection or <see cref="s_readBound"/> passes.</summary>
    private static async Task<(string Masked, CloseKind End)> ReadAsync(LaneServer server, byte[] bytes)
    {
        await using var connection = await RawHttp.ConnectAsync(server.Port);
        await connection.SendAsync(bytes);
        var (data, end) = await connection.ReadToEndAsync(s_readBound);
        return (RawHttp.MaskDate(data), end);
    }

    private static string Printable(string text) => RawHttp.Printable(Encoding.Latin1.GetBytes(text), 200);

    [Fact]
    public void The_corpus_has_every_family_of_the_issue()
    {
        var names = Corpus().Select(c => c.Name).ToList();
        foreach (var family in new[] { "CL.TE", "TE.CL", "TE.TE", "CL:", "obs-fold", "bare LF", "bare CR", "NUL", "request line of 10 KB", "header line of 40 KB", "body that is a request" })
        {
            Assert.Contains(names, n => n.Contains(family, StringComparison.Ordinal));
        }

        Assert.Equal(names.Count, names.Distinct(StringComparer.Ordinal).Count());
    }
}

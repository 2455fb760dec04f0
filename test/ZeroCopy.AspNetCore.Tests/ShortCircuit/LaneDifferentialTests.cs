using ZeroCopy.AspNetCore.Tests.Differential;

namespace ZeroCopy.AspNetCore.Tests.ShortCircuit;

/// <summary>
/// Issue 16, differential: every request of the stock-parity corpus (preconditions, ranges, header
/// forms, file types, bad paths), plus Accept-Encoding variants with precompressed siblings and raw
/// header/target forms, sent as raw bytes to two Kestrel servers over the same folder with the same
/// settings, one with the short-circuit lane on and one with it off, on each engine. Proves that
/// every answer is byte-identical but for the Date value, that the lane really answered the plain
/// GET/HEAD (and If-None-Match / If-Modified-Since) requests for cached files, and that it never
/// answered what the contract leaves to Kestrel (Range, If-Match, If-Unmodified-Since, If-Range,
/// percent-encoded or dot-segment targets).
/// </summary>
public sealed class LaneDifferentialTests
{
    /// <summary>Files of <see cref="DifferentialSite"/> the lane must answer once cached: small, plain names.</summary>
    private static readonly string[] s_laneFiles = ["/one.bin", "/f4095.bin", "/index.html", "/style.css", "/app.js", "/sub/nested.txt", "/sub/deeper/leaf.json"];

    /// <summary>Precompressed siblings added to the site (relative path, seed).</summary>
    private static readonly (string Path, int Seed)[] s_siblings =
        [("app.js.br", 71), ("app.js.gz", 72), ("style.css.gz", 73), ("index.html.br", 74), ("index.html.gz", 75), ("sub/nested.txt.gz", 76)];

    /// <summary>Accept-Encoding values (null: no header).</summary>
    private static readonly string?[] s_acceptEncodings =
    [
        null, "br", "gzip", "br, gzip", "gzip, br", "identity", "*", "br;q=0, gzip", "gzip;q=0.5, br;q=0.9", "identity;q=0",
        "*;q=0", "deflate", "GZIP", "x-unknown", "", "br;q=0, gzip;q=0, identity;q=0",
    ];

    /// <summary>Accept-Encoding values for which a cached file (or its cached sibling) is the answer: the lane must take them.</summary>
    private static readonly string?[] s_laneEncodings = [null, "br", "gzip", "br, gzip"];

    private static readonly string[] s_contractForwardedHeaders = ["Range", "If-Range", "If-Match", "If-Unmodified-Since"];

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task Every_corpus_request_gets_the_same_bytes_with_the_lane_on_and_off(ZeroCopyTransportEngine engine)
    {
        Engines.Require(engine);
        using var site = new DifferentialSite();
        foreach (var (path, seed) in s_siblings)
        {
            File.SetLastWriteTimeUtc(site.Root.WriteRandom(path, 300 + seed, seed), DifferentialSite.BaseTimeUtc.AddMinutes(seed));
        }

        await using var pair = await LanePair.StartAsync(new LaneServerOptions
        {
            Engine = engine,
            ServedRoot = site.Root.Path,
            ContentRoot = site.ContentRoot.Path,
            // One range at most: a multipart answer has a random boundary, different on every response.
            Settings = new Dictionary<string, string?> { ["ZeroCopyStaticFiles:MaxRanges"] = "1" },
        });

        var encodingTargets = new[] { "/app.js", "/style.css", "/index.html", "/sub/nested.txt", "/one.bin", "/f4095.bin" };
        await pair.WarmAsync(site.Files.Select(f => (f.UrlPath, Array.Empty<string>()))
            .Concat(encodingTargets.SelectMany(t => new[] { "br", "gzip" }.Select(e => (t, new[] { "Accept-Encoding: " + e })))));
        Assert.Equal(0, pair.On.LaneAnswers);

        await ReadFactsAsync(pair.On, site);
        var facts = await ReadFactsAsync(pair.Off, site);
        var now = DateTimeOffset.UtcNow;
        var corpus = StockParityCorpus.Build(facts, Path.GetFileName(site.Outside.Path), now, inProcessBadPaths: false);
        var probes = new List<LaneProbe>();
        var mustLane = new HashSet<int>();
        var mustNotLane = new HashSet<int>();
        foreach (var item in corpus)
        {
            var headers = item.Request.Headers.Select(h => h.Key + ": " + h.Value).ToArray();
            if (item.File is not null && s_laneFiles.Contains(item.File.UrlPath) && item.Request.Headers.All(h => h.Key is "If-None-Match" or "If-Modified-Since"))
            {
                mustLane.Add(probes.Count);
            }

            if (item.Request.Headers.Any(h => s_contractForwardedHeaders.Contains(h.Key)) || !PlainTarget(item.Request.Target))
            {
                mustNotLane.Add(probes.Count);
            }

            var request = Wire.Request(item.Request.Method, item.Request.Target, headers);
            probes.Add(LaneProbe.Of($"{item.Index} [{item.Section}]", request, LaneProbe.Doubtful(request)));
        }

        // Accept-Encoding with and without precompressed siblings, GET and HEAD, unconditional and conditional.
        foreach (var target in encodingTargets)
        {
            var identity = facts[target];
            foreach (var encoding in s_acceptEncodings)
            {
                string[] ae = encoding is null ? [] : ["Accept-Encoding: " + encoding];
                // Asked of both servers, so both caches see the same requests.
                await LookUpAsync(pair.On, target, ae);
                var representation = await LookUpAsync(pair.Off, target, ae);
                string[][] conditionals =
                [
                    [],
                    ["If-None-Match: " + identity.ETag],
                    .. representation.ETag is { } etag ? [["If-None-Match: " + etag]] : Array.Empty<string[]>(),
                    .. representation.LastModified is { } date ? [["If-Modified-Since: " + date]] : Array.Empty<string[]>(),
                ];
                foreach (var method in new[] { "GET", "HEAD" })
                {
                    foreach (var conditional in conditionals)
                    {
                        if (s_laneEncodings.Contains(encoding) && representation.Status == 200)
                        {
                            mustLane.Add(probes.Count);
                        }

                        probes.Add(LaneProbe.Of($"AE '{encoding ?? "(none)"}' {method} {target} {string.Join(' ', conditional)}", Wire.Request(method, target, [.. ae, .. conditional])));
                    }
                }
            }
        }

        // Raw forms HttpClient cannot send: repeated header lines, odd values, other versions, methods and targets.
        var one = facts["/one.bin"];
        (string Label, string Request, bool? Lane)[] raw =
        [
            ("two If-None-Match lines, the second matching", Wire.Get("/one.bin", "If-None-Match: \"x\"", "If-None-Match: " + one.ETag), null),
            ("two If-Modified-Since lines", Wire.Get("/one.bin", "If-Modified-Since: " + one.LastModifiedHeader, "If-Modified-Since: " + one.LastModifiedHeader), null),
            ("two Accept-Encoding lines", Wire.Get("/app.js", "Accept-Encoding: gzip", "Accept-Encoding: br"), null),
            ("If-None-Match with tabs and spaces", Wire.Get("/one.bin", "If-None-Match:\t " + one.ETag + " \t"), null),
            ("empty If-None-Match", Wire.Get("/one.bin", "If-None-Match:"), null),
            ("empty If-Modified-Since", Wire.Get("/one.bin", "If-Modified-Since: "), null),
            ("empty Accept-Encoding", Wire.Get("/app.js", "Accept-Encoding:"), null),
            ("Connection: keep-alive", Wire.Get("/one.bin", "Connection: keep-alive"), true),
            ("Connection: close", Wire.Get("/one.bin", "Connection: close"), false),
            ("Connection: Keep-Alive, Upgrade", Wire.Get("/one.bin", "Connection: Keep-Alive, Upgrade"), null),
            ("Cache-Control and Pragma no-cache", Wire.Get("/one.bin", "Cache-Control: no-cache", "Pragma: no-cache"), true),
            ("unknown header lines", Wire.Get("/index.html", "User-Agent: lane-test/1.0", "Accept: */*", "X-Whatever: 1"), true),
            ("Host with a port", Wire.RequestTo("localhost:5000", "GET", "/one.bin"), null),
            ("Host as an IPv4 address", Wire.RequestTo("127.0.0.1", "GET", "/one.bin"), null),
            ("Host as an IPv6 literal", Wire.RequestTo("[::1]", "GET", "/one.bin"), null),
            ("upper-case Host", Wire.RequestTo("LOCALHOST", "GET", "/one.bin"), null),
            ("two Host lines", "GET /one.bin HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n", false),
            ("no Host", "GET /one.bin HTTP/1.1\r\n\r\n", false),
            ("empty Host", "GET /one.bin HTTP/1.1\r\nHost:\r\n\r\n", false),
            ("HTTP/1.0", "GET /one.bin HTTP/1.0\r\nHost: localhost\r\n\r\n", false),
            ("HTTP/1.0 keep-alive", "GET /one.bin HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n", false),
            ("query", Wire.Get("/one.bin?x=1"), null),
            ("empty query", Wire.Get("/one.bin?"), null),
            ("fragment", Wire.Get("/one.bin#fragment"), null),
            ("absolute-form", Wire.Get("http://localhost/one.bin"), false),
            ("absolute-form, other host", Wire.Get("http://example.com/one.bin"), false),
            ("lower-case method", Wire.Request("get", "/one.bin"), false),
            ("OPTIONS", Wire.Request("OPTIONS", "/one.bin"), false),
            ("DELETE", Wire.Request("DELETE", "/one.bin"), false),
            ("TRACE", Wire.Request("TRACE", "/one.bin"), false),
            ("POST without a body", Wire.Request("POST", "/one.bin", "Content-Length: 0"), false),
            ("asterisk-form", Wire.Request("OPTIONS", "*"), false),
            ("authority-form", Wire.Request("CONNECT", "localhost:80"), false),
        ];
        foreach (var (label, request, lane) in raw)
        {
            if (lane == true)
            {
                mustLane.Add(probes.Count);
            }
            else if (lane == false)
            {
                mustNotLane.Add(probes.Count);
            }

            // Each raw form on its own connection: several are bytes the lane hands over with the rest of the connection.
            probes.Add(LaneProbe.Of("raw: " + label, request, isolate: true));
        }

        var (on, off, differences) = await LaneExchange.CompareAsync(pair, probes);

        var laneAnswered = on.Count(o => o.LaneDelta > 0);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{engine}: {probes.Count} requests, {differences.Count} different; the lane answered {laneAnswered} ({mustLane.Count} required, {mustNotLane.Count} forbidden); lane metric {pair.On.LaneAnswers}");
        Assert.True(differences.Count == 0, LaneExchange.Report("requests answered differently with the lane on", differences));
        Assert.Equal(0, pair.Off.LaneAnswers);
        Assert.All(on, o => Assert.InRange(o.LaneDelta, 0, 1));
        Assert.Equal(pair.On.LaneAnswers, on.Sum(o => o.LaneDelta));
        var missed = mustLane.Where(i => on[i].LaneDelta == 0).Select(i => probes[i].ToString()).ToList();
        var missedByTarget = string.Join(", ", mustLane.Where(i => on[i].LaneDelta == 0)
            .GroupBy(i => RequestLine(probes[i]))
            .Select(g => $"{g.Key} x{g.Count()}"));
        Assert.True(missed.Count == 0, LaneExchange.Report("requests for cached files the lane should have answered but left to Kestrel", missed) + "\nby request line: " + missedByTarget);
        var taken = mustNotLane.Where(i => on[i].LaneDelta > 0).Select(i => probes[i].ToString()).ToList();
        Assert.True(taken.Count == 0, LaneExchange.Report("requests the lane answered although the contract leaves them to Kestrel", taken));
        var errors = pair.Errors();
        Assert.True(errors.Count == 0, string.Join('\n', errors));
    }

    /// <summary>
    /// A target the lane may answer: origin-form, no percent-encoding, no empty, "." or ".." segment,
    /// no backslash (conservative: anything the contract does not name as plain is left out).
    /// </summary>
    internal static bool PlainTarget(string target)
    {
        var query = target.IndexOf('?', StringComparison.Ordinal);
        var path = query < 0 ? target : target[..query];
        return path.StartsWith('/')
            && target.All(c => c is > ' ' and < '\x7f')
            && !path.Contains('%', StringComparison.Ordinal)
            && !path.Contains('\\', StringComparison.Ordinal)
            && !path.Contains('#', StringComparison.Ordinal)
            && path[1..].Split('/').Select((segment, i) => (segment, i)).All(s => s.segment is not ("." or "..") && (s.segment.Length > 0 || s.i == path[1..].Split('/').Length - 1));
    }

    private static string RequestLine(LaneProbe probe)
    {
        var text = System.Text.Encoding.Latin1.GetString(probe.Bytes);
        var accept = text.Split("\r\n").FirstOrDefault(l => l.StartsWith("Accept-Encoding:", StringComparison.OrdinalIgnoreCase));
        return text.Split("\r\n")[0] + (accept is null ? string.Empty : " [" + accept + "]");
    }

    /// <summary>The validators of every site file, from plain HEADs to the lane-off server.</summary>
    private static async Task<Dictionary<string, FileFacts>> ReadFactsAsync(LaneServer server, DifferentialSite site)
    {
        var facts = new Dictionary<string, FileFacts>(StringComparer.Ordinal);
        foreach (var file in site.Files)
        {
            var answer = await LookUpAsync(server, file.UrlPath, []);
            Assert.True(answer.Status == 200 && answer.ETag is not null && answer.LastModified is not null, $"GET {file.UrlPath}: {answer}");
            facts.Add(file.UrlPath, new FileFacts(file.UrlPath, file.Content, answer.ETag!, answer.LastModified!));
        }

        return facts;
    }

    /// <summary>Status, ETag and Last-Modified of a GET with <c>Connection: close</c> (never the lane's).</summary>
    private static async Task<(int Status, string? ETag, string? LastModified)> LookUpAsync(LaneServer server, string target, string[] headers)
    {
        await using var connection = await RawHttp.ConnectAsync(server.Port);
        await connection.SendAsync(Wire.Request("GET", target, [.. headers, "Connection: close"]));
        var answer = await connection.ReadResponseAsync(head: false);
        Assert.True(answer is { Complete: true }, $"GET {target} {string.Join(' ', headers)}: {answer}");
        return (answer.Status, answer.Header("ETag"), answer.Header("Last-Modified"));
    }

    [Fact]
    public void PlainTarget_classifies_as_the_contract_says()
    {
        Assert.True(PlainTarget("/one.bin"));
        Assert.True(PlainTarget("/sub/nested.txt"));
        Assert.True(PlainTarget("/sub/"));
        Assert.False(PlainTarget("/a%20b"));
        Assert.False(PlainTarget("//one.bin"));
        Assert.False(PlainTarget("/sub//nested.txt"));
        Assert.False(PlainTarget("/./one.bin"));
        Assert.False(PlainTarget("/sub/.."));
        Assert.False(PlainTarget("one.bin"));
        Assert.False(PlainTarget("http://localhost/one.bin"));
        Assert.False(PlainTarget("/caf\u00e9.txt"));
        Assert.False(PlainTarget("/a\u0001.txt"));
    }
}

using System.Text;
using ZeroCopy.AspNetCore.ShortCircuit;

namespace ZeroCopy.AspNetCore.Tests.ShortCircuit.Parser;

/// <summary>
/// The lane's head reader on its own: what it answers (Candidate), what it hands to Kestrel one
/// request at a time with a certain end (Forward), and what hands the rest of the connection to
/// Kestrel (PassThrough). Every smuggling shape must be PassThrough, never Candidate or Forward.
/// </summary>
public sealed class LaneRequestTests
{
    private static readonly LaneLimits s_limits = new(MaxLine: 4096, MaxHead: 8192, MaxFields: 50);

    private static (bool Complete, LaneVerdict Verdict, int Length, string Path) Read(string head)
    {
        var bytes = Encoding.Latin1.GetBytes(head);
        var complete = LaneRequest.TryRead(bytes, s_limits, out var request);
        return (complete, request.Verdict, request.Length, Encoding.ASCII.GetString(request.Path));
    }

    [Theory]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\n\r\n", "/a.js")]
    [InlineData("HEAD /css/site.css HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\n", "/css/site.css")]
    [InlineData("GET /a.js?v=1&x=%20 HTTP/1.1\r\nhost: x\r\nConnection: keep-alive\r\n\r\n", "/a.js")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost:x\r\nIf-None-Match: \"abc\"\r\nAccept-Encoding: gzip, br\r\n\r\n", "/a.js")]
    public void Plain_gets_and_heads_are_candidates(string head, string path)
    {
        var (complete, verdict, length, readPath) = Read(head);
        Assert.True(complete);
        Assert.Equal(LaneVerdict.Candidate, verdict);
        Assert.Equal(head.Length, length);
        Assert.Equal(path, readPath);
    }

    [Theory]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nIf-Match: \"a\"\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nIf-Range: \"a\"\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nIf-Unmodified-Since: Sat, 05 Dec 2026 00:00:00 GMT\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.0\r\n\r\n")]
    [InlineData("DELETE /a.js HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("get /a.js HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("GET /a%2Ejs HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("GET /css/../a.js HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("GET /./a.js HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("GET //a.js HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("GET http://x/a.js HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("GET * HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: [::1]\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x@y\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nAccept-Encoding: br\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"a\"\r\nIf-None-Match: \"b\"\r\n\r\n")]
    public void Clean_heads_the_lane_does_not_answer_are_forwarded_with_their_exact_end(string head)
    {
        var (complete, verdict, length, _) = Read(head + "GET /next HTTP/1.1\r\n");
        Assert.True(complete);
        Assert.Equal(LaneVerdict.Forward, verdict);
        Assert.Equal(head.Length, length);
    }

    [Theory]
    // Bodies and framing: CL.TE, TE.CL, TE.TE, duplicate and conflicting lengths.
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")]
    [InlineData("POST /a.js HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n")]
    [InlineData("POST /a.js HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\ntransfer-encoding : chunked\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")]
    // Obs-fold, bare LF, bare CR, NUL, controls, obs-text.
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\n\tTransfer-Encoding: chunked\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\nHost: x\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\n\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\rX: y\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nX: a\u0001\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nX: caf\u00e9\r\n\r\n")]
    [InlineData("GET /caf\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n")]
    // Connections that may stop being requests.
    [InlineData("GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n")]
    [InlineData("CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n")]
    [InlineData("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")]
    // Line syntax.
    [InlineData("\r\nGET /a.js HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("GET  /a.js HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1 \r\nHost: x\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.2\r\nHost: x\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost x\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\n: x\r\n\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nX Y: z\r\n\r\n")]
    // TLS ClientHello bytes.
    [InlineData("\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003")]
    public void Heads_read_with_any_doubt_pass_the_connection_through(string head)
    {
        var (complete, verdict, _, _) = Read(head);
        Assert.True(complete, "a doubtful head is decided at once, not waited for");
        Assert.Equal(LaneVerdict.PassThrough, verdict);
    }

    [Theory]
    [InlineData("")]
    [InlineData("GET /a.js HTT")]
    [InlineData("GET /a.js HTTP/1.1\r")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\n")]
    [InlineData("GET /a.js HTTP/1.1\r\nHost: x\r\n\r")]
    public void Incomplete_heads_are_not_decided(string head)
    {
        Assert.False(Read(head).Complete);
    }

    [Fact]
    public void Heads_near_Kestrels_limits_pass_through()
    {
        var longLine = "GET /" + new string('a', s_limits.MaxLine) + " HTTP/1.1\r\nHost: x\r\n\r\n";
        Assert.Equal(LaneVerdict.PassThrough, Read(longLine).Verdict);

        var longHead = "GET /a.js HTTP/1.1\r\nHost: x\r\nX: " + new string('b', s_limits.MaxHead) + "\r\n\r\n";
        Assert.Equal(LaneVerdict.PassThrough, Read(longHead).Verdict);

        var manyFields = "GET /a.js HTTP/1.1\r\nHost: x\r\n" + string.Concat(Enumerable.Range(0, s_limits.MaxFields + 1).Select(i => $"X{i}: y\r\n")) + "\r\n";
        Assert.Equal(LaneVerdict.PassThrough, Read(manyFields).Verdict);

        // An incomplete line already over the limit is decided without waiting for its end.
        var (complete, verdict, _, _) = Read("GET /" + new string('a', s_limits.MaxLine));
        Assert.True(complete);
        Assert.Equal(LaneVerdict.PassThrough, verdict);
    }
}

/// <summary>How the lane reads Kestrel's first response to decide whether Kestrel runs its HTTP/1.x keep-alive loop.</summary>
public sealed class KestrelFirstResponseTests
{
    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello", true)]
    [InlineData("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nDate: x\r\nServer: Kestrel\r\n\r\n", true)]
    [InlineData("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", true)]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nclose: no", true)]
    [InlineData("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 56\r\n\r\n", false)]
    [InlineData("HTTP/1.1 200 OK\r\nconnection:close\r\n\r\n", false)]
    [InlineData("HTTP/1.0 200 OK\r\n\r\n", false)]
    [InlineData("\u0000\u0000\u0008\u0007\u0000\u0000\u0000\u0000\u0000", false)]
    [InlineData("", false)]
    [InlineData("HTTP/1.1 200 OK", false)]
    public void Only_an_HTTP_1_1_keep_alive_response_lets_the_lane_answer(string head, bool keeps)
        => Assert.Equal(keeps, LaneReader.KestrelKeepsHttp1(System.Text.Encoding.Latin1.GetBytes(head)));
}

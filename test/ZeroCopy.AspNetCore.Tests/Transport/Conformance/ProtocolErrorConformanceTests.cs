
namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>
/// Scenario 13: Kestrel's answers to bad requests and exceeded limits (400, 414, 431, 505, 408)
/// and how it ends those connections are identical on both transports.
/// </summary>
public sealed class ProtocolErrorConformanceTests
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    /// <summary>Name → (request bytes, expected status).</summary>
    private static readonly Dictionary<string, (string Request, int Status)> s_cases = new(StringComparer.Ordinal)
    {
        ["malformed-request-line"] = ("GET /ping HTTP/1.1 extra\r\nHost: localhost\r\n\r\n", 400),
        ["garbage-request-line"] = ("HELLO\r\n\r\n", 400),
        ["header-without-colon"] = ("GET /ping HTTP/1.1\r\nHost: localhost\r\nNoColonHere\r\n\r\n", 400),
        ["missing-host"] = ("GET /ping HTTP/1.1\r\n\r\n", 400),
        ["invalid-content-length"] = ("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n", 400),
        ["bad-chunk-size"] = ("POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
        ["unsupported-version"] = ("GET /ping HTTP/1.2\r\nHost: localhost\r\n\r\n", 505),
        ["request-line-too-long"] = ($"GET /{new string('a', 2000)} HTTP/1.1\r\nHost: localhost\r\n\r\n", 414),
        ["headers-too-large"] = ($"GET /ping HTTP/1.1\r\nHost: localhost\r\nX-Big: {new string('b', 3000)}\r\n\r\n", 431),
        ["too-many-headers"] = ("GET /ping HTTP/1.1\r\nHost: localhost\r\n" + string.Concat(Enumerable.Range(0, 12).Select(i => $"X-H{i}: v\r\n")) + "\r\n", 431),
        ["headers-timeout"] = ("GET /ping HTTP/1.1\r\nHost: localhost\r\n", 408),
    };

    public static TheoryData<TransportKind, string> Cases()
    {
        var data = new TheoryData<TransportKind, string>();
        foreach (var kind in Enum.GetValues<TransportKind>())
        {
            foreach (var name in s_cases.Keys)
            {
                data.Add(kind, name);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bad_request_is_answered_with_the_expected_status_then_the_connection_ends(TransportKind kind, string name)
    {
        await using var host = await StartAsync(kind);
        var (response, end) = await SendAsync(host, name);
        Assert.Equal(s_cases[name].Status, response.Status);
        Assert.Equal("close", response.Header("Connection"));
        Assert.NotEqual(CloseKind.StillOpen, end.Kind);
        await ConnectionLifecycleConformanceTests.AssertHealthyAsync(host);
        host.AssertIntendedTransport();
    }

    [Fact]
    public Task Bad_request_responses_and_connection_endings_are_identical_on_both_transports()
        => Compare.SameConcurrentlyAsync(
            async kind =>
            {
                await using var host = await StartAsync(kind);
                var transcript = await Task.WhenAll(s_cases.Keys.Select(async name =>
                {
                    var (response, end) = await SendAsync(host, name);
                    return $"{name}: {response.Normalized}\nthen {end}";
                }));
                host.AssertIntendedTransport(minimumConnections: s_cases.Count);
                var transportErrors = host.ErrorLogs().Where(r => !r.Category.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal)).Select(ConformanceHost.Describe).ToList();
                Assert.True(transportErrors.Count == 0, "Transport error logs:\n" + string.Join("\n", transportErrors));
                return string.Join("\n\n", transcript) + "\nerror logs: " + string.Join(",", host.ErrorLogs().Select(r => r.EventId.Name).Order(StringComparer.Ordinal));
            },
            (_, _) => { });

    private static Task<ConformanceHost> StartAsync(TransportKind kind)
        => ConformanceHost.StartAsync(
            kind,
            app =>
            {
                app.MapGet("/ping", () => "pong");
                app.MapPost("/echo", async context => await context.Request.Body.CopyToAsync(context.Response.Body));
            },
            s => s.Kestrel = o =>
            {
                o.Limits.MaxRequestHeadersTotalSize = 2048;
                o.Limits.MaxRequestHeaderCount = 10;
                o.Limits.MaxRequestLineSize = 1024;
                o.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(1);
            });

    private static async Task<(WireResponse Response, WireEnd End)> SendAsync(ConformanceHost host, string name)
    {
        await using var client = await host.ConnectAsync();
        await client.SendAsync(s_cases[name].Request);
        var response = await client.ReadResponseAsync(timeout: s_wait);
        var end = await client.ReadToEndAsync(s_wait);
        return (response, end);
    }
}

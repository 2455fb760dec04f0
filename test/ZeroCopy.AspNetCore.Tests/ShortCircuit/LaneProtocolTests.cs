using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace ZeroCopy.AspNetCore.Tests.ShortCircuit;

/// <summary>
/// Issue 16, other protocols on a lane-enabled server: an HTTP/2-only clear-text endpoint (h2c prior
/// knowledge) and HTTP/1.1 over TLS. Proves that those connections get the lane-off server's bytes
/// and are never answered by the lane (it reads HTTP/1.1 clear text only, and only where Kestrel
/// would speak it).
/// </summary>
public sealed class LaneProtocolTests : IDisposable
{
    private readonly LaneSite _site = new();

    public void Dispose() => _site.Dispose();

    /// <summary>
    /// An HTTP/2-only clear-text endpoint (h2c prior knowledge): HTTP/2 requests get Kestrel's
    /// answers, and HTTP/1.1 bytes, which Kestrel refuses there, get the same refusal with the lane
    /// on: the lane must not answer HTTP/1.1 on an endpoint that does not speak it.
    /// </summary>
    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task An_Http2_only_endpoint_gets_no_lane_answers(ZeroCopyTransportEngine engine)
    {
        Engines.Require(engine);
        await using var pair = await LanePair.StartAsync(new LaneServerOptions
        {
            Engine = engine,
            ServedRoot = _site.Root.Path,
            ContentRoot = _site.Content.Path,
            Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2,
        });
        var answers = new List<string>();
        var http11 = new List<string>();
        foreach (var server in new[] { pair.On, pair.Off })
        {
            using var client = new HttpClient(new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.None })
            {
                DefaultRequestVersion = HttpVersion.Version20,
                DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Timeout = TimeSpan.FromSeconds(10),
            };
            var text = new StringBuilder();
            foreach (var target in new[] { "/small.txt", "/page.html", "/small.txt", "/page.html", LaneEndpoints.Hello })
            {
                using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{server.Port}{target}"), TestContext.Current.CancellationToken);
                var body = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
                text.Append($"{target}: HTTP/{response.Version} {(int)response.StatusCode} {response.Content.Headers.ContentLength} {Wire.Sha256(body)[..16]} etag {response.Headers.ETag}\n");
            }

            answers.Add(text.ToString());

            // HTTP/1.1 clear text to the HTTP/2-only endpoint, for a file the cache holds now.
            await using var connection = await RawHttp.ConnectAsync(server.Port);
            await connection.SendAsync(Wire.Get("/small.txt") + Wire.Get("/page.html"));
            var (data, _) = await connection.ReadToEndAsync(TimeSpan.FromSeconds(5));
            http11.Add(RawHttp.MaskDate(data));
        }

        Assert.Equal(answers[1], answers[0]);
        Assert.Contains("HTTP/2.0 200", answers[0], StringComparison.Ordinal);
        Assert.True(string.Equals(http11[0], http11[1], StringComparison.Ordinal), "HTTP/1.1 bytes to an HTTP/2-only endpoint: " + RawHttp.FirstDifference(http11[0], http11[1]));
        Assert.Equal(0, pair.On.LaneAnswers);
    }

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task Https_connections_get_the_lane_off_bytes_and_no_lane_answer(ZeroCopyTransportEngine engine)
    {
        Engines.Require(engine);
        using var certificate = TestCertificates.SelfSigned();
        await using var pair = await LanePair.StartAsync(new LaneServerOptions
        {
            Engine = engine,
            ServedRoot = _site.Root.Path,
            ContentRoot = _site.Content.Path,
            Certificate = certificate,
        });
        var request = Encoding.ASCII.GetBytes(Wire.Get("/small.txt", "Connection: close"));
        var results = new List<string>();
        foreach (var server in new[] { pair.On, pair.Off })
        {
            // Warm (the file is served through the middleware and cached), then pipelined plain requests.
            await TlsExchangeAsync(server.Port, request, certificate.Thumbprint);
            await TlsExchangeAsync(server.Port, request, certificate.Thumbprint);
            var before = server.LaneAnswers;
            var stream = await TlsExchangeAsync(server.Port, Encoding.ASCII.GetBytes(Wire.Get("/small.txt") + Wire.Request("HEAD", "/page.html") + Wire.Get(LaneEndpoints.Hello, "Connection: close")), certificate.Thumbprint);
            Assert.Equal(0, server.LaneAnswers - before);
            results.Add(stream);
        }

        Assert.True(string.Equals(results[0], results[1], StringComparison.Ordinal), RawHttp.FirstDifference(results[0], results[1]));
        Assert.Contains("HTTP/1.1 200 OK", results[0], StringComparison.Ordinal);
        var errors = pair.Errors();
        Assert.True(errors.Count == 0, string.Join('\n', errors));
    }

    /// <summary>Sends <paramref name="bytes"/> over TLS (trusting only the test's certificate) and reads until the server closes (bounded); the Date-masked text.</summary>
    private static async Task<string> TlsExchangeAsync(int port, byte[] bytes, string thumbprint)
    {
        using var cts = Wire.Timeout(TimeSpan.FromSeconds(10));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token);
        await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false, (_, presented, _, _) => presented?.GetCertHashString() == thumbprint);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" }, cts.Token);
        await tls.WriteAsync(bytes, cts.Token);
        using var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        try
        {
            int n;
            while ((n = await tls.ReadAsync(buffer, cts.Token)) > 0)
            {
                received.Write(buffer, 0, n);
            }
        }
        catch (IOException)
        {
            // A reset after the response: what arrived is compared.
        }

        return RawHttp.MaskDate(received.ToArray());
    }
}

using System.Text;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>
/// Before a server is measured: every workload file (and the 0 B file, /plaintext, and a sample
/// of the small files) is fetched once and compared with the source, byte for byte by SHA-256, with
/// the status and Content-Length; the files of the HTTPS/1.1 workloads again over TLS, and those of
/// the HTTP/2 workloads over HTTP/2. Returns the response header size per path
/// (<see cref="Workload.HeaderKey"/>), which the byte accounting of the big-file workloads needs.
/// </summary>
internal static class ResponseVerifier
{
    public static async Task<Dictionary<string, int>> VerifyAsync(RunningServer server, FileSet files, IReadOnlyList<Workload> workloads, int smallSample, int seed, TlsFiles? tls, CancellationToken cancel)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        var headerBytes = new Dictionary<string, int>(StringComparer.Ordinal);
        using var probe = await ResponseProbe.ConnectAsync(server.Port, tls: null, timeout.Token);

        foreach (var file in files.Fixed.Values)
        {
            headerBytes[file.UrlPath] = await CheckFileAsync(probe, file, timeout.Token);
        }

        if (workloads.Any(static w => w.Check == CheckMode.Small))
        {
            var random = new Random(seed);
            var indices = new SortedSet<int> { 0, FileSet.SmallCount - 1 };
            while (indices.Count < Math.Min(smallSample, FileSet.SmallCount))
            {
                indices.Add(random.Next(FileSet.SmallCount));
            }

            foreach (var index in indices)
            {
                await CheckFileAsync(probe, files.Small[index], timeout.Token);
            }
        }

        if (server.Spec.RunsPlaintext && workloads.Any(static w => w.Plaintext))
        {
            var response = await probe.GetAsync("/plaintext", timeout.Token);
            var body = response.Body is null ? null : Encoding.ASCII.GetString(response.Body);
            if (response.Status != 200 || body != Workload.PlaintextBody)
            {
                throw new HarnessException($"GET /plaintext: status {response.Status}, body '{body}' (expected 200 '{Workload.PlaintextBody}')");
            }

            headerBytes["/plaintext"] = response.HeaderBytes;
        }

        await probe.AssertQuietAsync(TimeSpan.FromMilliseconds(100));

        var overTls = workloads.Where(static w => w.Transport == Transport.Tls).ToList();
        if (overTls.Count > 0)
        {
            using var secure = await ResponseProbe.ConnectAsync(server.TlsPort ?? throw NoTlsPort(server), tls, timeout.Token);
            server.TlsNegotiated = secure.Negotiated;
            foreach (var workload in overTls)
            {
                headerBytes[workload.HeaderKey] = await CheckFileAsync(secure, files.Fixed[workload.UrlPath], timeout.Token);
            }

            await secure.AssertQuietAsync(TimeSpan.FromMilliseconds(100));
        }

        foreach (var workload in workloads.Where(static w => w.Transport == Transport.Http2))
        {
            await CheckHttp2Async(server, files.Fixed[workload.UrlPath], tls!, timeout.Token);
        }

        return headerBytes;
    }

    private static HarnessException NoTlsPort(RunningServer server)
        => new($"{server.Spec.Title} has no HTTPS port (no certificate: perf/run.sh makes one with openssl)");

    /// <summary>The file over HTTP/2 (ALPN h2 on the HTTPS port, nothing else accepted): status, protocol, Content-Length, SHA-256.</summary>
    private static async Task CheckHttp2Async(RunningServer server, ServedFile file, TlsFiles tls, CancellationToken cancel)
    {
        using var handler = new SocketsHttpHandler
        {
            SslOptions = tls.ClientOptions("127.0.0.1"),
            AutomaticDecompression = System.Net.DecompressionMethods.None,
        };
        using var client = new HttpClient(handler);
        using var request = new HttpRequestMessage(HttpMethod.Get, server.TlsBaseUrl + file.UrlPath)
        {
            Version = System.Net.HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        using var response = await client.SendAsync(request, cancel);
        var body = await response.Content.ReadAsByteArrayAsync(cancel);
        if ((int)response.StatusCode != 200 || response.Version != System.Net.HttpVersion.Version20)
        {
            throw new HarnessException($"GET {file.UrlPath} over HTTP/2: status {(int)response.StatusCode}, HTTP/{response.Version} (expected 200, HTTP/2)");
        }

        if (response.Content.Headers.ContentLength != file.Length || body.Length != file.Length)
        {
            throw new HarnessException($"GET {file.UrlPath} over HTTP/2: Content-Length {response.Content.Headers.ContentLength}, {body.Length} body bytes, the file has {file.Length}");
        }

        if (!System.Security.Cryptography.SHA256.HashData(body).AsSpan().SequenceEqual(file.Sha256))
        {
            throw new HarnessException($"GET {file.UrlPath} over HTTP/2: the body's SHA-256 differs from the file's");
        }
    }

    private static async Task<int> CheckFileAsync(ResponseProbe probe, ServedFile file, CancellationToken cancel)
    {
        var response = await probe.GetAsync(file.UrlPath, cancel);
        if (response.Status != 200)
        {
            throw new HarnessException($"GET {file.UrlPath}: status {response.Status} (expected 200)");
        }

        if (response.Chunked || response.ContentLength != file.Length)
        {
            throw new HarnessException($"GET {file.UrlPath}: Content-Length {response.ContentLength}{(response.Chunked ? " (chunked)" : string.Empty)}, the file has {file.Length} bytes");
        }

        if (!response.Sha256.AsSpan().SequenceEqual(file.Sha256))
        {
            throw new HarnessException($"GET {file.UrlPath}: the body's SHA-256 {Convert.ToHexStringLower(response.Sha256)} differs from the file's {Convert.ToHexStringLower(file.Sha256)}");
        }

        return response.HeaderBytes;
    }
}

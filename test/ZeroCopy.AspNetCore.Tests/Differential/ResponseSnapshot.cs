using System.Buffers;
using System.Globalization;
using Microsoft.AspNetCore.TestHost;
using System.Security.Cryptography;
using System.Text;

namespace ZeroCopy.AspNetCore.Tests.Differential;

/// <summary>
/// One request of the corpus: method, request target and header lines. Over Kestrel the target is
/// sent exactly as written (no client-side canonicalization). With TestServer, HttpClient
/// canonicalizes the target (System.Uri), unless <see cref="InProcess"/>: then the request is made
/// in process with <c>Request.Path</c> set to the (percent-decoded) target as is, a path Kestrel
/// would never let through (dot segments, backslashes, NUL).
/// </summary>
public sealed record ProbeRequest(string Method, string Target, IReadOnlyList<KeyValuePair<string, string>> Headers, bool InProcess = false)
{
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(InProcess ? "(in-process) " : string.Empty).Append(Method).Append(' ').Append(Target.Length > 120 ? Target[..120] + $"...({Target.Length} chars)" : Target);
        foreach (var (name, value) in Headers)
        {
            sb.Append(" | ").Append(name).Append(": ").Append(value);
        }

        return sb.ToString();
    }
}

/// <summary>
/// Everything compared between the two servers: status, every header except Date (sorted
/// "name: value" lines, names lower-cased, one line per value), SHA-256 and length of the body, and
/// the error, if the response could not be read to its end.
/// </summary>
public sealed record ResponseSnapshot(int Status, IReadOnlyList<string> Headers, string BodySha256, long BodyLength, string? Error)
{
    public string? HeaderValue(string lowerName)
    {
        var prefix = lowerName + ": ";
        var values = Headers.Where(h => h.StartsWith(prefix, StringComparison.Ordinal)).Select(h => h[prefix.Length..]).ToList();
        return values.Count == 0 ? null : string.Join(", ", values);
    }

    public bool SameAs(ResponseSnapshot other)
        => Status == other.Status
            && Headers.SequenceEqual(other.Headers, StringComparer.Ordinal)
            && BodySha256 == other.BodySha256
            && BodyLength == other.BodyLength
            && Error == other.Error;

    public override string ToString()
        => string.Create(CultureInfo.InvariantCulture, $"{Status} [{string.Join(" | ", Headers)}] body {BodyLength} bytes sha256={BodySha256[..12]}")
            + (Error is null ? string.Empty : " ERROR " + Error);

    public static ResponseSnapshot Failed(string error) => new(0, [], ExpectedResponse.EmptySha256, 0, error);

    /// <summary>The header lines of a response, Date excluded, sorted ordinally.</summary>
    public static List<string> NormalizeHeaders(IEnumerable<KeyValuePair<string, string>> headers)
    {
        var list = headers
            .Where(h => !string.Equals(h.Key, "Date", StringComparison.OrdinalIgnoreCase))
            .Select(h => h.Key.ToLowerInvariant() + ": " + h.Value)
            .ToList();
        list.Sort(StringComparer.Ordinal);
        return list;
    }
}

/// <summary>Sends <see cref="ProbeRequest"/>s with HttpClient (or a raw socket) and snapshots the answer.</summary>
public static class Prober
{
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(15);

    /// <summary>
    /// The URI for <paramref name="target"/>: not canonicalized for Kestrel; TestServer cannot take
    /// such a URI (PathString.FromUriComponent calls GetComponents), so there System.Uri canonicalizes it.
    /// </summary>
    public static Uri TargetUri(TestHost host, string target)
        => host.Kind == HostKind.Kestrel
            ? new(host.BaseAddress.GetLeftPart(UriPartial.Authority) + target, new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true })
            : new(host.BaseAddress.GetLeftPart(UriPartial.Authority) + target);

    /// <summary>
    /// Sends the request with <see cref="HttpCompletionOption.ResponseHeadersRead"/> and reads the
    /// body fully. A body that ends early (Content-Length not honoured) or a timeout is recorded in
    /// <see cref="ResponseSnapshot.Error"/>, never thrown.
    /// </summary>
    public static async Task<ResponseSnapshot> SendAsync(TestHost host, ProbeRequest request, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        if (request.InProcess)
        {
            return await SendInProcessAsync(host, request, timeout ?? RequestTimeout, cancellationToken);
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout ?? RequestTimeout);
        using var message = new HttpRequestMessage(new HttpMethod(request.Method), TargetUri(host, request.Target));
        foreach (var (name, value) in request.Headers)
        {
            if (!message.Headers.TryAddWithoutValidation(name, value))
            {
                throw new InvalidOperationException($"Header {name} could not be added.");
            }
        }

        HttpResponseMessage response;
        try
        {
            response = await host.Client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return ResponseSnapshot.Failed($"no response headers within {(timeout ?? RequestTimeout).TotalSeconds} s");
        }
        catch (HttpRequestException ex)
        {
            return ResponseSnapshot.Failed("request failed: " + Describe(ex));
        }
        catch (Exception ex) when (host.Kind == HostKind.TestServer && ex is not OperationCanceledException)
        {
            // TestServer's client refuses some targets itself (e.g. "The path contains null
            // characters"), and an exception thrown by the application reaches the client.
            return ResponseSnapshot.Failed("TestServer: " + Describe(ex));
        }

        using (response)
        {
            var headers = ResponseSnapshot.NormalizeHeaders(
                response.Headers.NonValidated.Concat(response.Content.Headers.NonValidated)
                    .SelectMany(h => h.Value.Select(v => new KeyValuePair<string, string>(h.Key, v))));
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long length = 0;
            string? error = null;
            try
            {
                await using var body = await response.Content.ReadAsStreamAsync(cts.Token);
                var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
                try
                {
                    int read;
                    while ((read = await body.ReadAsync(buffer, cts.Token)) > 0)
                    {
                        hash.AppendData(buffer, 0, read);
                        length += read;
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                error = $"body not complete within {(timeout ?? RequestTimeout).TotalSeconds} s";
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException)
            {
                error = "body: " + Describe(ex);
            }

            return new ResponseSnapshot((int)response.StatusCode, headers, Convert.ToHexStringLower(hash.GetHashAndReset()), length, error);
        }
    }

    /// <summary>TestServer only: the request is built as an HttpContext, with the raw path.</summary>
    private static async Task<ResponseSnapshot> SendInProcessAsync(TestHost host, ProbeRequest request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var server = host.App.GetTestServer();
        var queryStart = request.Target.IndexOf('?', StringComparison.Ordinal);
        var path = queryStart < 0 ? request.Target : request.Target[..queryStart];
        var query = queryStart < 0 ? string.Empty : request.Target[queryStart..];
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        HttpContext context;
        try
        {
            ArgumentOutOfRangeException.ThrowIfNotEqual(path.StartsWith('/'), true, nameof(request));
            context = await server.SendAsync(
                c =>
                {
                    c.Request.Method = request.Method;
                    c.Request.Path = PathString.FromUriComponent(path);
                    c.Request.QueryString = new QueryString(query);
                    foreach (var (name, value) in request.Headers)
                    {
                        c.Request.Headers.Append(name, value);
                    }
                },
                cts.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return ResponseSnapshot.Failed($"no response within {timeout.TotalSeconds} s");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The request could not be built, or the application threw.
            return ResponseSnapshot.Failed("TestServer: " + Describe(ex));
        }

        var headers = ResponseSnapshot.NormalizeHeaders(
            context.Response.Headers.SelectMany(h => h.Value.Select(v => new KeyValuePair<string, string>(h.Key, v ?? string.Empty))));
        using var body = new MemoryStream();
        await context.Response.Body.CopyToAsync(body, cts.Token);
        var bytes = body.ToArray();
        return new ResponseSnapshot(context.Response.StatusCode, headers, TempDirectory.Sha256(bytes), bytes.Length, null);
    }

    /// <summary>One request on a fresh raw connection (exact bytes, duplicate header lines).</summary>
    public static async Task<ResponseSnapshot> SendRawAsync(TestHost host, ProbeRequest request)
    {
        await using var connection = await WireClient.ConnectAsync(host.Port, resetIsEnd: true);
        var lines = request.Headers.Select(h => h.Key + ": " + h.Value).Append("Connection: close").ToArray();
        await connection.SendAsync(Wire.RequestTo("127.0.0.1", request.Method, request.Target, lines));
        try
        {
            var response = await connection.ReadResponseAsync(noBody: request.Method == "HEAD", timeout: RequestTimeout);
            return new ResponseSnapshot(
                response.Status,
                ResponseSnapshot.NormalizeHeaders(response.Headers),
                TempDirectory.Sha256(response.Body),
                response.Body.Length,
                null);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            return ResponseSnapshot.Failed("raw: " + Describe(ex));
        }
    }

    /// <summary>Exception types and HttpRequestError codes, without messages (which carry ports and the like).</summary>
    public static string Describe(Exception ex)
    {
        var parts = new List<string>();
        for (var e = ex; e is not null; e = e.InnerException)
        {
            parts.Add(e switch
            {
                HttpIOException io => $"{e.GetType().Name}({io.HttpRequestError})",
                HttpRequestException http => $"{e.GetType().Name}({http.HttpRequestError})",
                _ => e.GetType().Name,
            });
        }

        return string.Join(" <- ", parts);
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ZeroCopy.AspNetCore.Tests.Adversarial;

/// <summary>One request as bytes on the wire: any request target, any header lines.</summary>
public sealed record RawRequest(int Id, string Method, byte[] Target, IReadOnlyList<string> Headers)
{
    public const string IdHeader = "X-Adv-Id";

    public byte[] ToBytes()
    {
        var head = Encoding.ASCII.GetBytes(Method + " ");
        var sb = new StringBuilder();
        sb.Append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n").Append(CultureInfo.InvariantCulture, $"{IdHeader}: {Id}\r\n");
        foreach (var header in Headers)
        {
            sb.Append(header).Append("\r\n");
        }

        sb.Append("\r\n");
        return [.. head, .. Target, .. Encoding.Latin1.GetBytes(sb.ToString())];
    }

    /// <summary>The target for messages: printable ASCII as is, everything else as \xNN.</summary>
    public string Printable => Describe(Target);

    public static string Describe(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder();
        foreach (var b in bytes.Length > 160 ? bytes[..160] : bytes)
        {
            if (b is >= 0x21 and < 0x7f)
            {
                sb.Append((char)b);
            }
            else
            {
                sb.Append(CultureInfo.InvariantCulture, $"\\x{b:x2}");
            }
        }

        if (bytes.Length > 160)
        {
            sb.Append(CultureInfo.InvariantCulture, $"...({bytes.Length} bytes)");
        }

        return sb.ToString();
    }
}

/// <summary>
/// What came back: a status (0 when the connection ended without one), the headers, the body bytes
/// that arrived (<see cref="BodyComplete"/> false when the connection ended early), the time.
/// </summary>
public sealed record RawResult(RawRequest Request, int Status, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body, bool BodyComplete, TimeSpan Elapsed, string? Error)
{
    public string? Header(string name) => Headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

    public override string ToString()
        => $"{Request.Method} {Request.Printable} -> {(Status == 0 ? "no response" : Status.ToString(CultureInfo.InvariantCulture))}"
            + $"{(BodyComplete ? string.Empty : " (body cut short)")}{(Error is null ? string.Empty : " [" + Error + "]")} in {Elapsed.TotalMilliseconds:F0} ms";
}

/// <summary>
/// Sends requests over a few keep-alive connections to a real server, reconnecting whenever the
/// server closes one (Kestrel closes after every 400/414/431). Every read has a timeout.
/// </summary>
public static class RawRunner
{
    public static async Task<RawResult[]> RunAsync(int port, IReadOnlyList<RawRequest> requests, int connections, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var results = new RawResult[requests.Count];
        var next = -1;
        var workers = Enumerable.Range(0, connections).Select(async _ =>
        {
            WireClient? connection = null;
            try
            {
                while (true)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var index = Interlocked.Increment(ref next);
                    if (index >= requests.Count)
                    {
                        return;
                    }

                    connection ??= await RawExchange.ConnectAsync(port, timeout);
                    var (result, keep) = await connection.ExchangeAsync(requests[index], timeout);
                    results[index] = result;
                    if (!keep)
                    {
                        await connection.DisposeAsync();
                        connection = null;
                    }
                }
            }
            finally
            {
                if (connection is not null)
                {
                    await connection.DisposeAsync();
                }
            }
        });
        await Task.WhenAll(workers);
        return results;
    }
}

/// <summary>
/// One request and its answer on a <see cref="WireClient"/> connected with <c>resetIsEnd</c>, read
/// leniently: the status and headers of a response whose body is cut short are kept (which
/// <see cref="WireClient.ReadResponseAsync"/> reports as an exception).
/// </summary>
public static class RawExchange
{
    /// <summary>Connects the way <see cref="ExchangeAsync"/> expects: a reset reads as the end of the stream.</summary>
    public static async Task<WireClient> ConnectAsync(int port, TimeSpan timeout)
        => await WireClient.ConnectAsync(port, resetIsEnd: true).WaitAsync(timeout);

    /// <summary>Sends <paramref name="request"/> and reads the answer; KeepAlive false when the connection is done.</summary>
    public static async Task<(RawResult Result, bool KeepAlive)> ExchangeAsync(this WireClient connection, RawRequest request, TimeSpan timeout)
    {
        var stopwatch = Stopwatch.StartNew();
        using var cts = new CancellationTokenSource(timeout);
        string? error = null;
        try
        {
            await connection.SendAsync(request.ToBytes()).WaitAsync(cts.Token);
        }
        catch (SocketException ex)
        {
            // The server may answer (414, 431) and close before reading everything: read what it said.
            error = "send: " + ex.SocketErrorCode;
        }
        catch (OperationCanceledException)
        {
            error = "send: timeout";
        }

        var status = 0;
        IReadOnlyList<KeyValuePair<string, string>> headers = [];
        try
        {
            if (await connection.ReadHeadLenientAsync(cts.Token) is not { } head)
            {
                return (new RawResult(request, 0, headers, [], false, stopwatch.Elapsed, error ?? "closed before a status line"), false);
            }

            (status, headers) = (head.Status, head.Headers);
            var close = headers.Any(h => string.Equals(h.Key, "Connection", StringComparison.OrdinalIgnoreCase) && string.Equals(h.Value, "close", StringComparison.OrdinalIgnoreCase));
            var noBody = request.Method == "HEAD" || status is 204 or 304 || status < 200;
            if (noBody)
            {
                return (new RawResult(request, status, headers, [], true, stopwatch.Elapsed, error), error is null && !close);
            }

            if (head.Header("Transfer-Encoding") is not null)
            {
                // Static files are never chunked: record the anomaly and drop the connection.
                return (new RawResult(request, status, headers, [], false, stopwatch.Elapsed, "chunked response"), false);
            }

            using var body = new MemoryStream();
            var read = await connection.ReadBodyWithinAsync(Math.Max(0, head.ContentLength), chunk => body.Write(chunk), cts.Token);
            var complete = read.End == BodyEnd.Complete;
            return (new RawResult(request, status, headers, body.ToArray(), complete, stopwatch.Elapsed, complete ? error : error ?? "body cut short"), complete && error is null && !close);
        }
        catch (OperationCanceledException)
        {
            return (new RawResult(request, status, headers, [], false, stopwatch.Elapsed, "timeout"), false);
        }
        catch (SocketException ex)
        {
            return (new RawResult(request, status, headers, [], false, stopwatch.Elapsed, "receive: " + ex.SocketErrorCode), false);
        }
    }
}

/// <summary>Tests that measure latency or CPU time run alone, after the parallel tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AdversarialTimingTests
{
    public const string Name = "Adversarial timing";
}

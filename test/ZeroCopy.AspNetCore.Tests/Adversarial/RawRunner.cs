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
            WireConnection? connection = null;
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

                    connection ??= await WireConnection.ConnectAsync(port, timeout);
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
/// A minimal HTTP/1.1 client connection that keeps the status and headers of a response whose body
/// is cut short (which RawHttpConnection reports as an exception). Every read has a timeout.
/// </summary>
public sealed class WireConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private WireConnection(Socket socket) => _socket = socket;

    public static async Task<WireConnection> ConnectAsync(int port, TimeSpan timeout)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new WireConnection(socket);
    }

    /// <summary>Sends <paramref name="request"/> and reads the answer; KeepAlive false when the connection is done.</summary>
    public async Task<(RawResult Result, bool KeepAlive)> ExchangeAsync(RawRequest request, TimeSpan timeout)
    {
        var stopwatch = Stopwatch.StartNew();
        using var cts = new CancellationTokenSource(timeout);
        string? error = null;
        try
        {
            var bytes = request.ToBytes();
            var sent = 0;
            while (sent < bytes.Length)
            {
                sent += await _socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None, cts.Token);
            }
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
        var headers = new List<KeyValuePair<string, string>>();
        try
        {
            var statusLine = await ReadLineAsync(cts.Token);
            if (statusLine is null)
            {
                return (new RawResult(request, 0, headers, [], false, stopwatch.Elapsed, error ?? "closed before a status line"), false);
            }

            var parts = statusLine.Split(' ', 3);
            status = parts.Length > 1 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : -1;
            while (await ReadLineAsync(cts.Token) is { Length: > 0 } line)
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                headers.Add(colon < 0 ? new(line, string.Empty) : new(line[..colon].Trim(), line[(colon + 1)..].Trim()));
            }

            var close = headers.Any(h => string.Equals(h.Key, "Connection", StringComparison.OrdinalIgnoreCase) && string.Equals(h.Value, "close", StringComparison.OrdinalIgnoreCase));
            var noBody = request.Method == "HEAD" || status is 204 or 304 || status < 200;
            if (noBody)
            {
                return (new RawResult(request, status, headers, [], true, stopwatch.Elapsed, error), error is null && !close);
            }

            if (headers.Any(h => string.Equals(h.Key, "Transfer-Encoding", StringComparison.OrdinalIgnoreCase)))
            {
                // Static files are never chunked: record the anomaly and drop the connection.
                return (new RawResult(request, status, headers, [], false, stopwatch.Elapsed, "chunked response"), false);
            }

            var contentLength = headers.FirstOrDefault(h => string.Equals(h.Key, "Content-Length", StringComparison.OrdinalIgnoreCase)).Value;
            var length = long.Parse(contentLength ?? "0", CultureInfo.InvariantCulture);
            var (body, complete) = await ReadBodyAsync(length, cts.Token);
            return (new RawResult(request, status, headers, body, complete, stopwatch.Elapsed, complete ? error : error ?? "body cut short"), complete && error is null && !close);
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

    private async Task<(byte[] Body, bool Complete)> ReadBodyAsync(long length, CancellationToken token)
    {
        using var body = new MemoryStream();
        while (body.Length < length)
        {
            if (_start == _end && !await FillAsync(token))
            {
                return (body.ToArray(), false);
            }

            var n = (int)Math.Min(length - body.Length, _end - _start);
            body.Write(_buffer, _start, n);
            _start += n;
        }

        return (body.ToArray(), true);
    }

    private async Task<string?> ReadLineAsync(CancellationToken token)
    {
        var line = new StringBuilder();
        while (true)
        {
            if (_start == _end && !await FillAsync(token))
            {
                return line.Length == 0 ? null : line.ToString();
            }

            var b = _buffer[_start++];
            if (b == '\n')
            {
                if (line.Length > 0 && line[^1] == '\r')
                {
                    line.Length--;
                }

                return line.ToString();
            }

            line.Append((char)b);
        }
    }

    private async Task<bool> FillAsync(CancellationToken token)
    {
        _start = _end = 0;
        try
        {
            _end = await _socket.ReceiveAsync(_buffer, SocketFlags.None, token);
            return _end > 0;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            return false;
        }
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>Tests that measure latency or CPU time run alone, after the parallel tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AdversarialTimingTests
{
    public const string Name = "Adversarial timing";
}

using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>How a connection ended, as the client saw it.</summary>
public enum CloseKind
{
    /// <summary>Orderly end: a read returned 0 (the server sent FIN).</summary>
    Fin,

    /// <summary>A read failed with ECONNRESET (the server sent RST).</summary>
    Reset,

    /// <summary>Still open when the wait ended.</summary>
    StillOpen,
}

/// <summary>One HTTP/1.x response as it came off the wire.</summary>
public sealed record WireResponse(int Status, string Reason, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body, string Head)
{
    public string? Header(string name)
        => Headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

    /// <summary>Status line and headers without the Date header (which differs from run to run).</summary>
    public string NormalizedHead => Wire.WithoutDate(Head);

    /// <summary>Everything but the Date header; what two transports must agree on byte for byte.</summary>
    public string Normalized => NormalizedHead + "\n<body " + Body.Length.ToString(CultureInfo.InvariantCulture) + " bytes, sha256 " + Wire.Sha256(Body) + ">";

    public string BodyText => Encoding.UTF8.GetString(Body);
}

/// <summary>End-of-connection observation: the bytes that arrived and how the stream ended.</summary>
public sealed record WireEnd(byte[] Data, CloseKind Kind)
{
    public override string ToString() => $"{Kind} after {Data.Length} byte(s)";
}

public static class Wire
{
    public static string WithoutDate(string head)
        => string.Join("\r\n", head.Split("\r\n").Where(l => !l.StartsWith("Date:", StringComparison.OrdinalIgnoreCase)));

    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));

    public static string Request(string method, string target, params string[] headers)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{method} {target} HTTP/1.1\r\nHost: localhost\r\n");
        foreach (var header in headers)
        {
            sb.Append(header).Append("\r\n");
        }

        return sb.Append("\r\n").ToString();
    }

    public static CancellationTokenSource Timeout(TimeSpan timeout)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout);
        return cts;
    }
}

/// <summary>
/// A raw HTTP/1.x client over TCP or a Unix domain socket, for what HttpClient hides: pipelining,
/// exact bytes, half-close, FIN versus RST. Every wait has a timeout.
/// </summary>
public sealed class WireClient : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[256 * 1024];
    private int _start;
    private int _end;
    private bool _eof;

    private WireClient(Socket socket) => _socket = socket;

    public Socket Socket => _socket;

    public static async Task<WireClient> ConnectAsync(EndPoint endPoint)
    {
        var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var cts = Wire.Timeout(DefaultTimeout);
            await socket.ConnectAsync(endPoint, cts.Token);
            return new WireClient(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public Task SendAsync(string text) => SendAsync(Encoding.ASCII.GetBytes(text));

    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        using var cts = Wire.Timeout(DefaultTimeout);
        var sent = 0;
        while (sent < bytes.Length)
        {
            sent += await _socket.SendAsync(bytes[sent..], SocketFlags.None, cts.Token);
        }
    }

    /// <summary>Half-close: the server sees FIN; this side can still read.</summary>
    public void ShutdownSend() => _socket.Shutdown(SocketShutdown.Send);

    /// <summary>Abortive close: linger 0, so the kernel sends RST.</summary>
    public void Reset()
    {
        _socket.LingerState = new LingerOption(true, 0);
        _socket.Close();
    }

    /// <summary>Reads one response; 1xx responses are returned on their own.</summary>
    public async Task<WireResponse> ReadResponseAsync(bool head = false, TimeSpan? timeout = null)
    {
        using var cts = Wire.Timeout(timeout ?? DefaultTimeout);
        var token = cts.Token;
        var headText = new StringBuilder();
        var statusLine = await ReadLineAsync(token) ?? throw new IOException("Connection closed before a status line.");
        headText.Append(statusLine);
        var parts = statusLine.Split(' ', 3);
        var status = int.Parse(parts[1], CultureInfo.InvariantCulture);
        var headers = new List<KeyValuePair<string, string>>();
        while (true)
        {
            var line = await ReadLineAsync(token) ?? throw new IOException("Connection closed in the headers.");
            if (line.Length == 0)
            {
                break;
            }

            headText.Append("\r\n").Append(line);
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers.Add(new(line[..colon].Trim(), line[(colon + 1)..].Trim()));
        }

        var response = new WireResponse(status, parts.Length > 2 ? parts[2] : string.Empty, headers, [], headText.ToString());
        if (head || status is 204 or 304 || status < 200)
        {
            return response;
        }

        if (response.Header("Transfer-Encoding") is { } te && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            using var body = new MemoryStream();
            while (true)
            {
                var sizeLine = await ReadLineAsync(token) ?? throw new IOException("Connection closed in a chunk size.");
                var size = int.Parse(sizeLine.Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    // Trailers, then the empty line.
                    while (!string.IsNullOrEmpty(await ReadLineAsync(token)))
                    {
                    }

                    break;
                }

                body.Write(await ReadExactAsync(size, token));
                await ReadLineAsync(token);
            }

            return response with { Body = body.ToArray() };
        }

        if (response.Header("Content-Length") is { } cl)
        {
            return response with { Body = await ReadExactAsync(int.Parse(cl, CultureInfo.InvariantCulture), token) };
        }

        // Close-delimited body (HTTP/1.0 style).
        using var rest = new MemoryStream();
        do
        {
            rest.Write(_buffer, _start, _end - _start);
            _start = _end;
        }
        while (await FillAsync(token));

        return response with { Body = rest.ToArray() };
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes (throws if the connection ends first).</summary>
    public async Task<byte[]> ReadExactAsync(int count, TimeSpan timeout)
    {
        using var cts = Wire.Timeout(timeout);
        return await ReadExactAsync(count, cts.Token);
    }

    /// <summary>Reads until the server ends the connection or <paramref name="timeout"/> passes.</summary>
    public async Task<WireEnd> ReadToEndAsync(TimeSpan timeout)
    {
        using var cts = Wire.Timeout(timeout);
        using var data = new MemoryStream();
        data.Write(_buffer, _start, _end - _start);
        _start = _end = 0;
        try
        {
            while (true)
            {
                var n = await _socket.ReceiveAsync(_buffer.AsMemory(), SocketFlags.None, cts.Token);
                if (n == 0)
                {
                    return new WireEnd(data.ToArray(), CloseKind.Fin);
                }

                data.Write(_buffer, 0, n);
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            return new WireEnd(data.ToArray(), CloseKind.Reset);
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            return new WireEnd(data.ToArray(), CloseKind.StillOpen);
        }
    }

    private async Task<byte[]> ReadExactAsync(int count, CancellationToken token)
    {
        var result = new byte[count];
        var got = 0;
        while (got < count)
        {
            if (_start == _end && !await FillAsync(token))
            {
                throw new IOException($"Connection closed after {got} of {count} body bytes.");
            }

            var n = Math.Min(count - got, _end - _start);
            Array.Copy(_buffer, _start, result, got, n);
            _start += n;
            got += n;
        }

        return result;
    }

    private async Task<string?> ReadLineAsync(CancellationToken token)
    {
        var line = new StringBuilder();
        while (true)
        {
            if (_start == _end && !await FillAsync(token))
            {
                return line.Length == 0 ? null : throw new IOException("Connection closed mid-line.");
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
        if (_eof)
        {
            return false;
        }

        if (_start == _end)
        {
            _start = _end = 0;
        }
        else if (_end == _buffer.Length)
        {
            Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        var n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, token);
        _end += n;
        _eof = n == 0;
        return n > 0;
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}

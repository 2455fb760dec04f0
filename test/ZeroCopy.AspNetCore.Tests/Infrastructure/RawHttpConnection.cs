using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>
/// An HTTP/1.1 client on a raw socket, for what HttpClient hides: pipelining, exact bytes, early
/// close. Every read has a timeout.
/// </summary>
public sealed class RawHttpConnection : IAsyncDisposable
{
    private static readonly TimeSpan s_defaultTimeout = TimeSpan.FromSeconds(30);
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private RawHttpConnection(Socket socket) => _socket = socket;

    public Socket Socket => _socket;

    public static async Task<RawHttpConnection> ConnectAsync(int port, IPAddress? address = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var cts = new CancellationTokenSource(s_defaultTimeout);
        await socket.ConnectAsync(new IPEndPoint(address ?? IPAddress.Loopback, port), cts.Token);
        return new RawHttpConnection(socket);
    }

    public async Task SendAsync(string text) => await SendAsync(Encoding.ASCII.GetBytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        using var cts = new CancellationTokenSource(s_defaultTimeout);
        var sent = 0;
        while (sent < bytes.Length)
        {
            sent += await _socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None, cts.Token);
        }
    }

    /// <summary>A GET (or other method) request line plus headers, keep-alive.</summary>
    public static string Request(string method, string target, params string[] headers)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        foreach (var header in headers)
        {
            sb.Append(header).Append("\r\n");
        }

        return sb.Append("\r\n").ToString();
    }

    /// <summary>Reads one response. <paramref name="noBody"/> for HEAD (and 1xx/204/304 are detected).</summary>
    public async Task<RawResponse> ReadResponseAsync(bool noBody = false, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? s_defaultTimeout);
        var statusLine = await ReadLineAsync(cts.Token) ?? throw new IOException("Connection closed before a status line.");
        var parts = statusLine.Split(' ', 3);
        var status = int.Parse(parts[1], CultureInfo.InvariantCulture);
        var headers = new List<KeyValuePair<string, string>>();
        while (true)
        {
            var line = await ReadLineAsync(cts.Token) ?? throw new IOException("Connection closed in the headers.");
            if (line.Length == 0)
            {
                break;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers.Add(new(line[..colon].Trim(), line[(colon + 1)..].Trim()));
        }

        var response = new RawResponse(status, parts.Length > 2 ? parts[2] : string.Empty, headers, []);
        if (noBody || status is 204 or 304 || status < 200)
        {
            return response;
        }

        if (response.Header("Transfer-Encoding") is { } te && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            using var body = new MemoryStream();
            while (true)
            {
                var sizeLine = await ReadLineAsync(cts.Token) ?? throw new IOException("Connection closed in a chunk size.");
                var size = int.Parse(sizeLine.Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    await ReadLineAsync(cts.Token);
                    break;
                }

                body.Write(await ReadExactAsync(size, cts.Token));
                await ReadLineAsync(cts.Token);
            }

            return response with { Body = body.ToArray() };
        }

        var length = long.Parse(response.Header("Content-Length") ?? "0", CultureInfo.InvariantCulture);
        return response with { Body = await ReadExactAsync((int)length, cts.Token) };
    }

    /// <summary>Reads up to <paramref name="count"/> body bytes; returns fewer if the peer closes.</summary>
    public async Task<byte[]> ReadUpToAsync(int count, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var result = new byte[count];
        var got = 0;
        while (got < count)
        {
            if (_start == _end && !await FillAsync(cts.Token))
            {
                break;
            }

            var n = Math.Min(count - got, _end - _start);
            Array.Copy(_buffer, _start, result, got, n);
            _start += n;
            got += n;
        }

        return result.AsSpan(0, got).ToArray();
    }

    /// <summary>True when the server closes the connection (read returns 0 or reset) within the timeout.</summary>
    public async Task<bool> WaitForCloseAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                _start = _end = 0;
                if (!await FillAsync(cts.Token))
                {
                    return true;
                }
            }
        }
        catch (OperationCanceledException)
        {
            return false;
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
        if (_start == _end)
        {
            _start = _end = 0;
        }

        try
        {
            var n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, token);
            _end += n;
            return n > 0;
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

public sealed record RawResponse(int Status, string Reason, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body)
{
    public string? Header(string name) => Headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;
}

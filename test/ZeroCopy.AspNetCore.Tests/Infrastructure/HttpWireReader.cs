using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>The parts of one HTTP/1.x response as they came off the wire.</summary>
public sealed record WireMessage(int Status, string Reason, List<KeyValuePair<string, string>> Headers, byte[] Body, string Head);

/// <summary>
/// The buffered reading half of the raw-socket test clients: lines, exact byte counts and whole
/// HTTP/1.x responses (Content-Length, chunked or close-delimited). Every read takes a token; the
/// callers put a timeout on it.
/// </summary>
public sealed class HttpWireReader
{
    private readonly Socket _socket;
    private readonly byte[] _buffer;
    private readonly bool _resetIsEnd;
    private int _start;
    private int _end;
    private bool _eof;

    /// <param name="socket">The connected socket.</param>
    /// <param name="bufferSize">Receive buffer size.</param>
    /// <param name="resetIsEnd">True: a reset reads as end of stream; false: it throws.</param>
    public HttpWireReader(Socket socket, int bufferSize, bool resetIsEnd)
    {
        _socket = socket;
        _buffer = new byte[bufferSize];
        _resetIsEnd = resetIsEnd;
    }

    /// <summary>Bytes received but not read yet; taking them empties the buffer.</summary>
    public byte[] TakeBuffered()
    {
        var bytes = _buffer.AsSpan(_start, _end - _start).ToArray();
        _start = _end = 0;
        return bytes;
    }

    /// <summary>Receives more bytes; false at end of stream.</summary>
    public async Task<bool> FillAsync(CancellationToken token)
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

        int n;
        try
        {
            n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, token);
        }
        catch (SocketException ex) when (_resetIsEnd && ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            n = 0;
        }

        _end += n;
        _eof = n == 0;
        return n > 0;
    }

    /// <summary>Reads up to <paramref name="count"/> bytes; fewer only when the stream ends.</summary>
    public async Task<byte[]> ReadUpToAsync(int count, CancellationToken token)
    {
        var result = new byte[count];
        var got = 0;
        while (got < count)
        {
            if (_start == _end && !await FillAsync(token))
            {
                break;
            }

            var n = Math.Min(count - got, _end - _start);
            Array.Copy(_buffer, _start, result, got, n);
            _start += n;
            got += n;
        }

        return got == count ? result : result.AsSpan(0, got).ToArray();
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes, or throws when the stream ends first.</summary>
    public async Task<byte[]> ReadExactAsync(int count, CancellationToken token)
    {
        var result = await ReadUpToAsync(count, token);
        return result.Length == count
            ? result
            : throw new IOException($"Connection closed after {result.Length} of {count} body bytes.");
    }

    /// <summary>One line without its CRLF (or LF); null when the stream ends before a byte of it.</summary>
    public async Task<string?> ReadLineAsync(CancellationToken token)
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

    /// <summary>
    /// Reads one response. <paramref name="noBody"/> for HEAD; 1xx, 204 and 304 never have one. A body
    /// without Content-Length or chunked framing runs to the end of the stream.
    /// </summary>
    public async Task<WireMessage> ReadResponseAsync(bool noBody, CancellationToken token)
    {
        var head = new StringBuilder();
        var statusLine = await ReadLineAsync(token) ?? throw new IOException("Connection closed before a status line.");
        head.Append(statusLine);
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

            head.Append("\r\n").Append(line);
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers.Add(new(line[..colon].Trim(), line[(colon + 1)..].Trim()));
        }

        var reason = parts.Length > 2 ? parts[2] : string.Empty;
        return new WireMessage(status, reason, headers, await ReadBodyAsync(status, headers, noBody, token), head.ToString());
    }

    private async Task<byte[]> ReadBodyAsync(int status, List<KeyValuePair<string, string>> headers, bool noBody, CancellationToken token)
    {
        if (noBody || status is 204 or 304 || status < 200)
        {
            return [];
        }

        string? Header(string name) => headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

        if (Header("Transfer-Encoding") is { } te && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
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

                    return body.ToArray();
                }

                body.Write(await ReadExactAsync(size, token));
                await ReadLineAsync(token);
            }
        }

        if (Header("Content-Length") is { } length)
        {
            return await ReadExactAsync(int.Parse(length, CultureInfo.InvariantCulture), token);
        }

        // Close-delimited body (HTTP/1.0 style).
        using var rest = new MemoryStream();
        do
        {
            rest.Write(TakeBuffered());
        }
        while (await FillAsync(token));

        return rest.ToArray();
    }
}

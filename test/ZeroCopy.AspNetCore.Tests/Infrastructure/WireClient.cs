using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>
/// The suite's raw HTTP/1.x client, over TCP or a Unix domain socket, for what HttpClient hides:
/// exact bytes, pipelining, half-close, FIN versus RST, a chosen SO_RCVBUF, bodies streamed and
/// checked as they arrive. Reads are buffered, so responses can be read back to back off one
/// stream. Every wait has a timeout (and ends with the test). Not thread-safe: one reader at a time.
/// </summary>
public sealed class WireClient : IAsyncDisposable, IDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);
    public const int DefaultBufferSize = 64 * 1024;

    private readonly byte[] _buffer;
    private readonly bool _resetIsEnd;
    private int _start;
    private int _end;
    private bool _eof;

    private WireClient(Socket socket, int bufferSize, bool resetIsEnd)
    {
        Socket = socket;
        _buffer = new byte[bufferSize];
        _resetIsEnd = resetIsEnd;
    }

    public Socket Socket { get; }

    /// <summary>Bytes received and buffered beyond what was read.</summary>
    public int Buffered => _end - _start;

    /// <summary>Connects to 127.0.0.1:<paramref name="port"/>.</summary>
    /// <inheritdoc cref="ConnectAsync(EndPoint, int, int, bool)"/>
    public static Task<WireClient> ConnectAsync(int port, int receiveBuffer = 0, int bufferSize = DefaultBufferSize, bool resetIsEnd = false)
        => ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), receiveBuffer, bufferSize, resetIsEnd);

    /// <param name="endPoint">TCP or Unix domain socket end point.</param>
    /// <param name="receiveBuffer">SO_RCVBUF, set before connecting (0: the kernel's default).</param>
    /// <param name="bufferSize">The client's own receive buffer: the most one receive takes.</param>
    /// <param name="resetIsEnd">True: a reset reads as end of stream; false: a read throws it (and <see cref="ReadToEndAsync"/>, <see cref="ReadBodyAsync"/> report it).</param>
    public static async Task<WireClient> ConnectAsync(EndPoint endPoint, int receiveBuffer = 0, int bufferSize = DefaultBufferSize, bool resetIsEnd = false)
    {
        var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (receiveBuffer > 0)
            {
                socket.ReceiveBufferSize = receiveBuffer;
            }

            using var cts = Wire.Timeout(DefaultTimeout);
            await socket.ConnectAsync(endPoint, cts.Token);
            return new WireClient(socket, bufferSize, resetIsEnd);
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
            sent += await Socket.SendAsync(bytes[sent..], SocketFlags.None, cts.Token);
        }
    }

    /// <summary>Half-close: the server sees FIN; this side can still read.</summary>
    public void ShutdownSend() => Socket.Shutdown(SocketShutdown.Send);

    /// <summary>Abortive close (SO_LINGER 0): the kernel sends RST and drops queued data.</summary>
    public void Reset()
    {
        try
        {
            Socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }

        Socket.Dispose();
    }

    /// <summary>
    /// Reads one response: head, then a Content-Length, chunked or close-delimited body.
    /// <paramref name="noBody"/> for HEAD; 1xx (returned on their own), 204 and 304 never have one.
    /// Throws <see cref="IOException"/> when the stream ends early.
    /// </summary>
    public async Task<WireResponse> ReadResponseAsync(bool noBody = false, TimeSpan? timeout = null)
    {
        using var cts = Wire.Timeout(timeout ?? DefaultTimeout);
        var head = await ReadHeadCoreAsync(lenient: false, cts.Token) ?? throw new IOException("Connection closed before a status line.");
        return head with { Body = await ReadBodyAsync(head, noBody, cts.Token) };
    }

    /// <summary>
    /// Reads a status line and headers, leaving the body unread. Throws <see cref="IOException"/> on
    /// a close and <see cref="TimeoutException"/> after <paramref name="timeout"/>.
    /// </summary>
    public async Task<WireResponse> ReadHeadAsync(TimeSpan timeout)
    {
        using var cts = Wire.Timeout(timeout);
        try
        {
            return await ReadHeadCoreAsync(lenient: false, cts.Token) ?? throw new IOException("Connection closed before a complete response head.");
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"No complete response head within {timeout}.");
        }
    }

    /// <summary>
    /// A head read that accepts what a misbehaving server might send: a status that is not a number
    /// reads as -1, a header line without a colon as a name without a value, a head cut short as
    /// what arrived. Null when the stream ended before a byte of it.
    /// </summary>
    public Task<WireResponse?> ReadHeadLenientAsync(CancellationToken cancellationToken) => ReadHeadCoreAsync(lenient: true, cancellationToken);

    /// <summary>
    /// Reads up to <paramref name="count"/> body bytes (stops early at <paramref name="stopAt"/>),
    /// handing each chunk to <paramref name="sink"/>. A close, a reset, or
    /// <paramref name="idleTimeout"/> without a byte ends the read and is reported, never thrown.
    /// </summary>
    public Task<BodyRead> ReadBodyAsync(long count, BodySink? sink, TimeSpan idleTimeout, long stopAt = long.MaxValue)
        => ReadBodyCoreAsync(count, sink, idleTimeout, stopAt, CancellationToken.None);

    /// <summary>
    /// <see cref="ReadBodyAsync"/> without an idle timeout, bounded by <paramref name="deadline"/>
    /// instead: its cancellation is thrown, not reported.
    /// </summary>
    public Task<BodyRead> ReadBodyWithinAsync(long count, BodySink? sink, CancellationToken deadline)
        => ReadBodyCoreAsync(count, sink, Timeout.InfiniteTimeSpan, long.MaxValue, deadline);

    private async Task<BodyRead> ReadBodyCoreAsync(long count, BodySink? sink, TimeSpan idleTimeout, long stopAt, CancellationToken cancellationToken)
    {
        long got = 0;
        var limit = Math.Min(count, stopAt);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken, cancellationToken);
        cts.CancelAfter(idleTimeout);
        while (got < limit)
        {
            if (_start == _end)
            {
                try
                {
                    if (!await FillAsync(cts.Token))
                    {
                        return new BodyRead(got, BodyEnd.Fin);
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && !TestContext.Current.CancellationToken.IsCancellationRequested)
                {
                    return new BodyRead(got, BodyEnd.Hang);
                }
                catch (SocketException ex) when (IsReset(ex))
                {
                    return new BodyRead(got, BodyEnd.Reset);
                }

                cts.CancelAfter(idleTimeout);
            }

            var take = (int)Math.Min(_end - _start, limit - got);
            sink?.Invoke(_buffer.AsSpan(_start, take));
            _start += take;
            got += take;
        }

        return new BodyRead(got, got == count ? BodyEnd.Complete : BodyEnd.Stopped);
    }

    /// <summary>
    /// What one receive brings (buffered bytes first), at most <paramref name="max"/> bytes; 0 when
    /// the connection ended (FIN or reset). Throws <see cref="OperationCanceledException"/> after
    /// <paramref name="timeout"/>. A client that reads slowly on purpose connects with a small
    /// bufferSize, so the kernel gives it no more than it takes.
    /// </summary>
    public async Task<int> ReadSomeAsync(Memory<byte> destination, TimeSpan timeout)
    {
        if (_start == _end)
        {
            using var cts = Wire.Timeout(timeout);
            try
            {
                if (!await FillAsync(cts.Token))
                {
                    return 0;
                }
            }
            catch (SocketException ex) when (IsReset(ex))
            {
                return 0;
            }
        }

        var n = Math.Min(destination.Length, _end - _start);
        _buffer.AsMemory(_start, n).CopyTo(destination);
        _start += n;
        return n;
    }

    /// <summary>Waits until the server ends the connection, discarding what arrives; how it ended, or Hang.</summary>
    public async Task<BodyEnd> WaitForEndAsync(TimeSpan timeout) => (await ReadBodyAsync(long.MaxValue, null, timeout)).End;

    /// <summary>Reads exactly <paramref name="count"/> bytes (throws <see cref="IOException"/> if the connection ends first).</summary>
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
        try
        {
            do
            {
                data.Write(_buffer, _start, _end - _start);
                _start = _end;
            }
            while (await FillAsync(cts.Token));

            return new WireEnd(data.ToArray(), CloseKind.Fin);
        }
        catch (SocketException ex) when (IsReset(ex))
        {
            return new WireEnd(data.ToArray(), CloseKind.Reset);
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            return new WireEnd(data.ToArray(), CloseKind.StillOpen);
        }
    }

    public void Dispose() => Socket.Dispose();

    public ValueTask DisposeAsync()
    {
        Socket.Dispose();
        return ValueTask.CompletedTask;
    }

    private static bool IsReset(SocketException ex) => ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted;

    /// <summary>Receives more bytes; false at end of stream (and at a reset when resets read as the end).</summary>
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
            if (_start == 0)
            {
                throw new IOException($"A line longer than the client's {_buffer.Length}-byte buffer.");
            }

            Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        int n;
        try
        {
            n = await Socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, token);
        }
        catch (SocketException ex) when (_resetIsEnd && IsReset(ex))
        {
            n = 0;
        }

        _end += n;
        _eof = n == 0;
        return n > 0;
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

    /// <summary>One line without its CRLF (or LF); null when the stream ends before a byte of it.</summary>
    private async Task<string?> ReadLineAsync(bool partialAtEnd, CancellationToken token)
    {
        var line = new StringBuilder();
        while (true)
        {
            if (_start == _end && !await FillAsync(token))
            {
                return line.Length == 0 ? null
                    : partialAtEnd ? line.ToString()
                    : throw new IOException("Connection closed mid-line.");
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

    private async Task<WireResponse?> ReadHeadCoreAsync(bool lenient, CancellationToken token)
    {
        var statusLine = await ReadLineAsync(lenient, token);
        if (statusLine is null)
        {
            return null;
        }

        var parts = statusLine.Split(' ', 3);
        var status = -1;
        var parsed = parts.Length > 1 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out status);
        if (!lenient && !(parsed && parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal)))
        {
            throw new IOException("Not an HTTP/1.x status line: " + statusLine);
        }

        var head = new StringBuilder(statusLine);
        var headers = new List<KeyValuePair<string, string>>();
        while (true)
        {
            var line = await ReadLineAsync(lenient, token);
            if (line is null && !lenient)
            {
                throw new IOException("Connection closed in the headers.");
            }

            if (string.IsNullOrEmpty(line))
            {
                break;
            }

            head.Append("\r\n").Append(line);
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0 && !lenient)
            {
                throw new IOException("A header line without a colon: " + line);
            }

            headers.Add(colon < 0 ? new(line, string.Empty) : new(line[..colon].Trim(), line[(colon + 1)..].Trim()));
        }

        return new WireResponse(parsed ? status : -1, parts.Length > 2 ? parts[2] : string.Empty, headers, [], head.ToString());
    }

    private async Task<byte[]> ReadBodyAsync(WireResponse head, bool noBody, CancellationToken token)
    {
        if (noBody || head.Status is 204 or 304 || head.Status < 200)
        {
            return [];
        }

        if (head.Header("Transfer-Encoding") is { } te && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            using var body = new MemoryStream();
            while (true)
            {
                var sizeLine = await ReadLineAsync(partialAtEnd: false, token) ?? throw new IOException("Connection closed in a chunk size.");
                var size = int.Parse(sizeLine.Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    // Trailers, then the empty line.
                    while (!string.IsNullOrEmpty(await ReadLineAsync(partialAtEnd: false, token)))
                    {
                    }

                    return body.ToArray();
                }

                body.Write(await ReadExactAsync(size, token));
                await ReadLineAsync(partialAtEnd: false, token);
            }
        }

        if (head.Header("Content-Length") is { } length)
        {
            return await ReadExactAsync(int.Parse(length, CultureInfo.InvariantCulture), token);
        }

        // Close-delimited body (HTTP/1.0 style).
        using var rest = new MemoryStream();
        do
        {
            rest.Write(_buffer, _start, _end - _start);
            _start = _end;
        }
        while (await FillAsync(token));

        return rest.ToArray();
    }
}

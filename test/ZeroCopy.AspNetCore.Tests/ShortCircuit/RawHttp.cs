using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace ZeroCopy.AspNetCore.Tests.ShortCircuit;

/// <summary>One response exactly as it came off the wire (head and body bytes, nothing re-encoded).</summary>
/// <param name="Bytes">The response's bytes: status line through the last body byte.</param>
/// <param name="Status">The status code; -1 when the status line does not parse.</param>
/// <param name="Complete">False when the connection ended (or the wait timed out) inside it.</param>
/// <param name="Close">The response carries <c>Connection: close</c>, or the connection ended right after it.</param>
public sealed record RawAnswer(byte[] Bytes, int Status, bool Complete, bool Close)
{
    /// <summary>The bytes with the Date header's value masked: what lane-on and lane-off must agree on.</summary>
    public string Masked => RawHttp.MaskDate(Bytes);

    public string? Header(string name) => RawHttp.Header(Bytes, name);

    public override string ToString() => RawHttp.Printable(Bytes);
}

/// <summary>
/// Raw HTTP/1.x on a TCP socket, for comparisons byte for byte: requests are sent exactly as given
/// (in one send, or one byte per send), responses are cut out of the stream by their framing
/// (Content-Length, chunked, or the end of the connection) without re-encoding anything.
/// Every wait has a timeout.
/// </summary>
public sealed partial class RawHttp : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _socket;
    private byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private RawHttp(Socket socket) => _socket = socket;

    /// <summary>How the connection ended, once a read saw its end; null while it is open.</summary>
    public CloseKind? Ended { get; private set; }

    public static async Task<RawHttp> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var cts = Wire.Timeout(DefaultTimeout);
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token);
            return new RawHttp(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends <paramref name="bytes"/> (one send call where the kernel takes it all). A reset or an early close is not an error: the answers tell.</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        using var cts = Wire.Timeout(DefaultTimeout);
        var sent = 0;
        try
        {
            while (sent < bytes.Length)
            {
                sent += await _socket.SendAsync(bytes[sent..], SocketFlags.None, cts.Token);
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown)
        {
        }
    }

    public Task SendAsync(string text) => SendAsync(Encoding.Latin1.GetBytes(text));

    /// <summary>
    /// Sends <paramref name="bytes"/> <paramref name="perSend"/> bytes per send call (TCP_NODELAY is
    /// on, so each is its own segment on loopback unless the kernel coalesces a backlog).
    /// </summary>
    public async Task SendInPiecesAsync(byte[] bytes, int perSend = 1)
    {
        for (var i = 0; i < bytes.Length; i += perSend)
        {
            await SendAsync(bytes.AsMemory(i, Math.Min(perSend, bytes.Length - i)));
        }
    }

    /// <summary>Half-close: the server reads the end of the stream; this side can still read.</summary>
    public void ShutdownSend()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
        }
    }

    /// <summary>
    /// Reads one response, exactly as framed by its head; null when the connection ended (or
    /// <paramref name="timeout"/> passed) before its first byte. A response cut short is returned
    /// with <see cref="RawAnswer.Complete"/> false.
    /// </summary>
    /// <param name="head">The request was HEAD: a 200 has no body whatever its Content-Length says.</param>
    public async Task<RawAnswer?> ReadResponseAsync(bool head, TimeSpan? timeout = null)
    {
        using var cts = Wire.Timeout(timeout ?? DefaultTimeout);
        Compact();
        var from = _start;
        try
        {
            int headEnd;
            while ((headEnd = IndexOf("\r\n\r\n"u8, from)) < 0)
            {
                if (!await FillAsync(cts.Token))
                {
                    return Cut(from);
                }
            }

            var headText = Encoding.Latin1.GetString(_buffer, from, headEnd - from);
            var bodyStart = headEnd + 4;
            var status = ParseStatus(headText);
            var close = HeaderIn(headText, "Connection")?.Contains("close", StringComparison.OrdinalIgnoreCase) == true;
            if (head || status is 204 or 304 || (status is >= 100 and < 200))
            {
                return Take(from, bodyStart, status, close);
            }

            if (HeaderIn(headText, "Transfer-Encoding")?.Contains("chunked", StringComparison.OrdinalIgnoreCase) == true)
            {
                var position = bodyStart;
                while (true)
                {
                    int lineEnd;
                    while ((lineEnd = IndexOf("\r\n"u8, position)) < 0)
                    {
                        if (!await FillAsync(cts.Token))
                        {
                            return Cut(from);
                        }
                    }

                    var sizeText = Encoding.Latin1.GetString(_buffer, position, lineEnd - position).Split(';')[0].Trim();
                    var size = int.Parse(sizeText, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    position = lineEnd + 2;
                    if (size == 0)
                    {
                        // Trailers, then the empty line.
                        while (true)
                        {
                            while ((lineEnd = IndexOf("\r\n"u8, position)) < 0)
                            {
                                if (!await FillAsync(cts.Token))
                                {
                                    return Cut(from);
                                }
                            }

                            var empty = lineEnd == position;
                            position = lineEnd + 2;
                            if (empty)
                            {
                                return Take(from, position, status, close);
                            }
                        }
                    }

                    while (_end < position + size + 2)
                    {
                        if (!await FillAsync(cts.Token))
                        {
                            return Cut(from);
                        }
                    }

                    position += size + 2;
                }
            }

            if (HeaderIn(headText, "Content-Length") is { } lengthText)
            {
                var length = long.Parse(lengthText, CultureInfo.InvariantCulture);
                while (_end - bodyStart < length)
                {
                    if (!await FillAsync(cts.Token))
                    {
                        return Cut(from);
                    }
                }

                return Take(from, bodyStart + (int)length, status, close);
            }

            // Close-delimited.
            while (await FillAsync(cts.Token))
            {
            }

            return Take(from, _end, status, close: true) with { Complete = true };
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            return Cut(from);
        }
    }

    /// <summary>Everything up to the end of the connection, or what arrived within <paramref name="timeout"/>.</summary>
    public async Task<(byte[] Data, CloseKind End)> ReadToEndAsync(TimeSpan timeout)
    {
        using var cts = Wire.Timeout(timeout);
        Compact();
        try
        {
            while (await FillAsync(cts.Token))
            {
            }
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
        }

        var data = _buffer.AsSpan(_start, _end - _start).ToArray();
        _start = _end;
        return (data, Ended ?? CloseKind.StillOpen);
    }

    /// <summary>Waits for the end of the connection (discarding bytes); StillOpen after <paramref name="timeout"/>.</summary>
    public async Task<CloseKind> WaitForEndAsync(TimeSpan timeout) => (await ReadToEndAsync(timeout)).End;

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Replaces the value of every <c>Date</c> header line (at a line start after CRLF) with a placeholder.</summary>
    public static string MaskDate(ReadOnlySpan<byte> bytes) => DateLine().Replace(Encoding.Latin1.GetString(bytes), "\r\nDate: <masked>\r\n");

    /// <summary>Printable form of raw bytes: ASCII as is, CR and LF as \r \n, everything else as \xNN; long input cut.</summary>
    public static string Printable(ReadOnlySpan<byte> bytes, int max = 1200)
    {
        var sb = new StringBuilder();
        foreach (var b in bytes.Length > max ? bytes[..max] : bytes)
        {
            sb.Append(b switch
            {
                (byte)'\r' => "\\r",
                (byte)'\n' => "\\n",
                >= 0x20 and < 0x7f => ((char)b).ToString(),
                _ => string.Create(CultureInfo.InvariantCulture, $"\\x{b:x2}"),
            });
        }

        if (bytes.Length > max)
        {
            sb.Append(CultureInfo.InvariantCulture, $"...({bytes.Length} bytes, sha256 {Wire.Sha256(bytes.ToArray())[..16]})");
        }

        return sb.ToString();
    }

    public static string Printable(string masked, int max = 1200) => Printable(Encoding.Latin1.GetBytes(masked), max);

    /// <summary>Where two masked streams first differ, with what each holds from a little before that point.</summary>
    public static string FirstDifference(string on, string off)
    {
        var at = 0;
        while (at < on.Length && at < off.Length && on[at] == off[at])
        {
            at++;
        }

        var from = Math.Max(0, at - 120);
        return $"first difference at byte {at} (lengths {on.Length} and {off.Length}); from byte {from}:\n"
            + $"      lane on:  {Printable(on[from..], 400)}\n"
            + $"      lane off: {Printable(off[from..], 400)}";
    }

    /// <summary>The value of the first header <paramref name="name"/> in a response's head.</summary>
    public static string? Header(ReadOnlySpan<byte> response, string name)
    {
        var end = response.IndexOf("\r\n\r\n"u8);
        return HeaderIn(Encoding.Latin1.GetString(end < 0 ? response : response[..end]), name);
    }

    private static string? HeaderIn(string head, string name)
    {
        foreach (var line in head.Split("\r\n").Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && string.Equals(line[..colon], name, StringComparison.OrdinalIgnoreCase))
            {
                return line[(colon + 1)..].Trim();
            }
        }

        return null;
    }

    private static int ParseStatus(string head)
    {
        var parts = head.Split(' ', 3);
        return parts.Length > 1 && parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal)
            && int.TryParse(parts[1].Split("\r\n")[0], NumberStyles.None, CultureInfo.InvariantCulture, out var status) ? status : -1;
    }

    private RawAnswer Take(int from, int to, int status, bool close)
    {
        var bytes = _buffer.AsSpan(from, to - from).ToArray();
        _start = to;
        return new RawAnswer(bytes, status, Complete: true, close);
    }

    private RawAnswer? Cut(int from)
    {
        if (_end == from)
        {
            return null;
        }

        var bytes = _buffer.AsSpan(from, _end - from).ToArray();
        _start = _end;
        return new RawAnswer(bytes, ParseStatus(Encoding.Latin1.GetString(bytes)), Complete: false, Close: true);
    }

    private int IndexOf(ReadOnlySpan<byte> value, int from)
    {
        var at = _buffer.AsSpan(from, _end - from).IndexOf(value);
        return at < 0 ? -1 : from + at;
    }

    /// <summary>Moves the unread bytes to the start of the buffer (positions of a read are taken after it).</summary>
    private void Compact()
    {
        if (_start > 0)
        {
            Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
    }

    /// <summary>Receives more bytes behind those buffered; false at the end of the connection (FIN or reset).</summary>
    private async Task<bool> FillAsync(CancellationToken token)
    {
        if (Ended is not null)
        {
            return false;
        }

        if (_end == _buffer.Length)
        {
            // Keep every byte of the response being read: grow rather than shift under its start.
            Array.Resize(ref _buffer, _buffer.Length * 2);
        }

        int n;
        try
        {
            n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, token);
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            Ended = CloseKind.Reset;
            return false;
        }

        if (n == 0)
        {
            Ended = CloseKind.Fin;
            return false;
        }

        _end += n;
        return true;
    }

    [GeneratedRegex("\r\nDate: [^\r\n]*\r\n", RegexOptions.CultureInvariant)]
    private static partial Regex DateLine();
}

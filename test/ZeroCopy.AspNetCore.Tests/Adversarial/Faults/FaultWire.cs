using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace ZeroCopy.AspNetCore.Tests.Adversarial.Faults;

/// <summary>How a body read ended.</summary>
internal enum BodyEnd
{
    /// <summary>Exactly Content-Length bytes arrived.</summary>
    Complete,

    /// <summary>The server closed the connection (FIN) before Content-Length bytes.</summary>
    Fin,

    /// <summary>The server reset the connection before Content-Length bytes.</summary>
    Reset,

    /// <summary>Nothing arrived for the idle timeout: a hang.</summary>
    Hang,

    /// <summary>The reader stopped on purpose (a stop offset was given).</summary>
    Stopped,
}

internal readonly record struct BodyRead(long Bytes, BodyEnd End)
{
    public override string ToString() => $"{End} after {Bytes} body byte(s)";
}

/// <summary>Receives body chunks in order.</summary>
internal delegate void BodySink(ReadOnlySpan<byte> chunk);

/// <summary>Status line and headers of one response.</summary>
internal sealed record ResponseHead(int Status, IReadOnlyList<KeyValuePair<string, string>> Headers)
{
    public string? Header(string name)
        => Headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

    public long ContentLength => long.Parse(Header("Content-Length") ?? "-1", CultureInfo.InvariantCulture);

    public override string ToString() => $"{Status} " + string.Join("; ", Headers.Select(h => h.Key + ": " + h.Value));
}

/// <summary>
/// A raw HTTP/1.1 client connection for fault tests: a chosen SO_RCVBUF, streaming body reads that
/// tell Complete / FIN / RST / hang apart (every wait has an idle timeout), and a reset
/// (SO_LINGER 0) on demand. Not thread-safe: one request at a time, or pipelined by the caller.
/// </summary>
internal sealed class FaultConnection : IDisposable
{
    private readonly byte[] _buffer;
    private int _start;
    private int _end;

    private FaultConnection(Socket socket, int bufferSize)
    {
        Socket = socket;
        _buffer = new byte[bufferSize];
    }

    public Socket Socket { get; }

    /// <summary>Connects to 127.0.0.1:<paramref name="port"/>; a receive buffer (SO_RCVBUF) is set before connecting.</summary>
    public static async Task<FaultConnection> ConnectAsync(int port, int receiveBuffer = 0, int bufferSize = 64 * 1024, CancellationToken cancellationToken = default)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (receiveBuffer > 0)
            {
                socket.ReceiveBufferSize = receiveBuffer;
            }

            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(TimeSpan.FromSeconds(15));
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token);
            return new FaultConnection(socket, bufferSize);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public static string Get(string target, params string[] headers)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        foreach (var header in headers)
        {
            sb.Append(header).Append("\r\n");
        }

        return sb.Append("\r\n").ToString();
    }

    public async Task SendAsync(string text, CancellationToken cancellationToken = default)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(15));
        var sent = 0;
        while (sent < bytes.Length)
        {
            sent += await Socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None, cts.Token);
        }
    }

    /// <summary>Reads a status line and headers; throws on a close or after <paramref name="timeout"/>.</summary>
    public async Task<ResponseHead> ReadHeadAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        while (true)
        {
            var end = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                var text = Encoding.ASCII.GetString(_buffer, _start, end);
                _start += end + 4;
                return ParseHead(text);
            }

            if (_start > 0 && _end == _buffer.Length)
            {
                Compact();
            }

            if (_end == _buffer.Length)
            {
                throw new IOException("Response head larger than the buffer.");
            }

            int n;
            try
            {
                n = await Socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cts.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"No complete response head within {timeout}.");
            }

            if (n == 0)
            {
                throw new IOException("Connection closed before a complete response head.");
            }

            _end += n;
        }
    }

    /// <summary>
    /// Reads up to <paramref name="count"/> body bytes (stops early at <paramref name="stopAt"/>),
    /// handing each chunk to <paramref name="sink"/>. A close, a reset, or <paramref name="idleTimeout"/>
    /// without a byte ends the read and is reported, never thrown.
    /// </summary>
    public async Task<BodyRead> ReadBodyAsync(long count, BodySink? sink, TimeSpan idleTimeout, long stopAt = long.MaxValue, CancellationToken cancellationToken = default)
    {
        long got = 0;
        var limit = Math.Min(count, stopAt);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(idleTimeout);
        while (got < limit)
        {
            if (_start == _end)
            {
                _start = _end = 0;
                int n;
                try
                {
                    n = await Socket.ReceiveAsync(_buffer.AsMemory(), SocketFlags.None, cts.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    return new BodyRead(got, BodyEnd.Hang);
                }
                catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
                {
                    return new BodyRead(got, BodyEnd.Reset);
                }

                if (n == 0)
                {
                    return new BodyRead(got, BodyEnd.Fin);
                }

                _end = n;
                cts.CancelAfter(idleTimeout);
            }

            var take = (int)Math.Min(_end - _start, limit - got);
            sink?.Invoke(_buffer.AsSpan(_start, take));
            _start += take;
            got += take;
        }

        return new BodyRead(got, got == count ? BodyEnd.Complete : BodyEnd.Stopped);
    }

    /// <summary>Waits until the server ends the connection; how it ended, or Hang.</summary>
    public async Task<BodyEnd> WaitForEndAsync(TimeSpan timeout)
    {
        var read = await ReadBodyAsync(long.MaxValue, null, timeout);
        return read.End;
    }

    /// <summary>Bytes received and buffered beyond what was consumed.</summary>
    public int Buffered => _end - _start;

    /// <summary>Closes with SO_LINGER 0: the kernel sends RST and drops queued data.</summary>
    public void Reset()
    {
        try
        {
            Socket.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        Socket.Dispose();
    }

    public void Dispose() => Socket.Dispose();

    private void Compact()
    {
        Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
        _end -= _start;
        _start = 0;
    }

    private static ResponseHead ParseHead(string text)
    {
        var lines = text.Split("\r\n");
        var parts = lines[0].Split(' ', 3);
        if (parts.Length < 2 || !parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            throw new IOException("Not an HTTP/1.x status line: " + lines[0]);
        }

        var headers = new List<KeyValuePair<string, string>>(lines.Length);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers.Add(new(line[..colon].Trim(), line[(colon + 1)..].Trim()));
        }

        return new ResponseHead(int.Parse(parts[1], CultureInfo.InvariantCulture), headers);
    }
}

/// <summary>
/// Checks a body against the bytes it claims to be, as it streams: every byte compared with the
/// expected slice, and a SHA-256 of what arrived (compared with the expected slice's hash when
/// <see cref="Finish"/> is called on a complete body).
/// </summary>
internal sealed class BodyCheck : IDisposable
{
    private readonly ReadOnlyMemory<byte> _expected;
    private readonly IncrementalHash? _hash;
    private readonly byte[]? _expectedHash;
    private long _position;

    /// <param name="expected">The bytes the body claims to be.</param>
    /// <param name="hash">Also SHA-256 the body.</param>
    /// <param name="expectedHash">SHA-256 of <paramref name="expected"/> when known (else computed at the end).</param>
    public BodyCheck(ReadOnlyMemory<byte> expected, bool hash, byte[]? expectedHash = null)
    {
        _expected = expected;
        _hash = hash ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
        _expectedHash = expectedHash;
    }

    /// <summary>The body was SHA-256-checked (not only compared byte by byte).</summary>
    public bool Hashed => _hash is not null;

    /// <summary>Offset of the first byte that differs from the expected bytes; -1 when none.</summary>
    public long FirstMismatch { get; private set; } = -1;

    public long Position => _position;

    public void Append(ReadOnlySpan<byte> chunk)
    {
        _hash?.AppendData(chunk);
        if (FirstMismatch < 0)
        {
            var available = (int)Math.Max(0, Math.Min(chunk.Length, _expected.Length - _position));
            var expected = _expected.Span.Slice((int)Math.Min(_position, _expected.Length), available);
            var mismatch = chunk[..available].CommonPrefixLength(expected);
            if (mismatch < available)
            {
                FirstMismatch = _position + mismatch;
            }
            else if (available < chunk.Length)
            {
                FirstMismatch = _position + available;
            }
        }

        _position += chunk.Length;
    }

    /// <summary>True when every byte matched and (if hashing) the SHA-256 equals the expected bytes' SHA-256.</summary>
    public bool Finish()
    {
        if (FirstMismatch >= 0 || _position != _expected.Length)
        {
            return false;
        }

        return _hash is null || _hash.GetHashAndReset().AsSpan().SequenceEqual(_expectedHash ?? SHA256.HashData(_expected.Span));
    }

    public void Dispose() => _hash?.Dispose();
}

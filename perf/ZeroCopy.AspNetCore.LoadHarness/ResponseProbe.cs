using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>One response as read off the wire.</summary>
/// <param name="Status">Status code.</param>
/// <param name="HeaderBytes">Bytes of the status line and headers, including the blank line.</param>
/// <param name="ContentLength">The Content-Length header, or -1.</param>
/// <param name="Chunked">Transfer-Encoding: chunked was sent.</param>
/// <param name="Sha256">SHA-256 of the body read.</param>
/// <param name="Body">The body when it is at most 64 bytes (for /plaintext), else null.</param>
internal sealed record ProbeResponse(int Status, int HeaderBytes, long ContentLength, bool Chunked, byte[] Sha256, byte[]? Body);

/// <summary>
/// A minimal HTTP/1.1 client on one keep-alive connection that sends exactly what wrk sends
/// (<c>GET path HTTP/1.1</c> and a Host header), so the header size it measures is the header size
/// wrk receives. It reads headers and exactly Content-Length body bytes, hashing them, and fails on
/// anything else: chunked bodies, a connection closed early, bytes after the body. Over TLS (the
/// HTTPS port, ALPN http/1.1 only, as wrk) the same, inside the TLS stream.
/// </summary>
internal sealed class ResponseProbe : IDisposable
{
    private const int MaxHeaderBytes = 16 * 1024;
    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly bool _tls;
    private readonly string _host;
    private readonly byte[] _buffer = ArrayPool<byte>.Shared.Rent(256 * 1024);
    private int _start;
    private int _end;

    private ResponseProbe(Socket socket, Stream stream, bool tls, int port)
    {
        _socket = socket;
        _stream = stream;
        _tls = tls;
        _host = string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{port}");
    }

    /// <param name="port">The server's port.</param>
    /// <param name="tls">The run's certificate when <paramref name="port"/> is the HTTPS port; null for plain HTTP.</param>
    /// <param name="cancel">Cancels the connection and handshake.</param>
    public static async Task<ResponseProbe> ConnectAsync(int port, TlsFiles? tls, CancellationToken cancel)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancel);
            Stream stream = new NetworkStream(socket, ownsSocket: false);
            string? negotiated = null;
            if (tls is not null)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                await ssl.AuthenticateAsClientAsync(tls.ClientOptions("127.0.0.1", SslApplicationProtocol.Http11), cancel);
                negotiated = $"{ssl.SslProtocol} {ssl.NegotiatedCipherSuite}";
                stream = ssl;
            }

            return new ResponseProbe(socket, stream, tls is not null, port) { Negotiated = negotiated };
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The TLS version and cipher suite negotiated (TLS only).</summary>
    public string? Negotiated { get; private init; }

    public async Task<ProbeResponse> GetAsync(string path, CancellationToken cancel)
    {
        if (_start != _end)
        {
            throw new HarnessException($"the server sent {_end - _start} bytes nobody asked for before GET {path}");
        }

        await _stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {_host}\r\n\r\n"), cancel);

        int headerEnd;
        while ((headerEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8)) < 0)
        {
            if (_end - _start >= MaxHeaderBytes)
            {
                throw new HarnessException($"GET {path}: no end of headers within {MaxHeaderBytes} bytes");
            }

            await FillAsync(path, cancel);
        }

        var headerBytes = headerEnd + 4;
        var headerText = Encoding.Latin1.GetString(_buffer, _start, headerEnd);
        _start += headerBytes;

        var lines = headerText.Split("\r\n");
        var statusParts = lines[0].Split(' ', 3);
        if (statusParts.Length < 2 || !statusParts[0].StartsWith("HTTP/1.", StringComparison.Ordinal)
            || !int.TryParse(statusParts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var status))
        {
            throw new HarnessException($"GET {path}: bad status line '{lines[0]}'");
        }

        long contentLength = -1;
        var chunked = false;
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            var name = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                contentLength = long.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture);
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && value.Contains("chunked", StringComparison.OrdinalIgnoreCase))
            {
                chunked = true;
            }
        }

        if (chunked || contentLength < 0)
        {
            // The file responses must carry a Content-Length; a chunked one is reported, not parsed.
            return new ProbeResponse(status, headerBytes, contentLength, chunked, [], null);
        }

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var remaining = contentLength;
        byte[]? small = contentLength <= 64 ? new byte[contentLength] : null;
        var smallAt = 0;
        while (remaining > 0)
        {
            if (_start == _end)
            {
                await FillAsync(path, cancel);
            }

            var take = (int)Math.Min(remaining, _end - _start);
            hash.AppendData(_buffer, _start, take);
            if (small is not null)
            {
                _buffer.AsSpan(_start, take).CopyTo(small.AsSpan(smallAt));
                smallAt += take;
            }

            _start += take;
            remaining -= take;
        }

        return new ProbeResponse(status, headerBytes, contentLength, chunked, hash.GetHashAndReset(), small);
    }

    /// <summary>Fails when the server sends anything within <paramref name="wait"/> after the last response.</summary>
    public async Task AssertQuietAsync(TimeSpan wait)
    {
        var extra = _end - _start;
        if (extra == 0 && _tls)
        {
            // TLS records that are not data (a session ticket) may still arrive: only decrypted
            // bytes count. A read cancelled by the timeout leaves the stream unusable; the probe
            // is done with it.
            using var timeout = new CancellationTokenSource(wait);
            try
            {
                extra = await _stream.ReadAsync(_buffer.AsMemory(_end), timeout.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
        else if (extra == 0 && _socket.Poll(wait, SelectMode.SelectRead))
        {
            extra = _socket.Available;
        }

        if (extra > 0)
        {
            throw new HarnessException($"the server sent {extra} bytes after the last response's body");
        }
    }

    private async Task FillAsync(string path, CancellationToken cancel)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        var read = await _stream.ReadAsync(_buffer.AsMemory(_end), cancel);
        if (read == 0)
        {
            throw new HarnessException($"GET {path}: the server closed the connection in the middle of the response");
        }

        _end += read;
    }

    public void Dispose()
    {
        _stream.Dispose();
        _socket.Dispose();
        ArrayPool<byte>.Shared.Return(_buffer);
    }
}

using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ZeroCopy.AspNetCore.Tests.Infrastructure;

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
    private readonly HttpWireReader _reader;

    private WireClient(Socket socket)
    {
        _socket = socket;
        _reader = new HttpWireReader(socket, 256 * 1024, resetIsEnd: false);
    }

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
        var message = await _reader.ReadResponseAsync(head, cts.Token);
        return new WireResponse(message.Status, message.Reason, message.Headers, message.Body, message.Head);
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes (throws if the connection ends first).</summary>
    public async Task<byte[]> ReadExactAsync(int count, TimeSpan timeout)
    {
        using var cts = Wire.Timeout(timeout);
        return await _reader.ReadExactAsync(count, cts.Token);
    }

    /// <summary>Reads until the server ends the connection or <paramref name="timeout"/> passes.</summary>
    public async Task<WireEnd> ReadToEndAsync(TimeSpan timeout)
    {
        using var cts = Wire.Timeout(timeout);
        using var data = new MemoryStream();
        data.Write(_reader.TakeBuffered());
        try
        {
            while (await _reader.FillAsync(cts.Token))
            {
                data.Write(_reader.TakeBuffered());
            }

            return new WireEnd(data.ToArray(), CloseKind.Fin);
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

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}

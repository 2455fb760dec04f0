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
    private readonly HttpWireReader _reader;

    private RawHttpConnection(Socket socket)
    {
        _socket = socket;
        _reader = new HttpWireReader(socket, 64 * 1024, resetIsEnd: true);
    }

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
        var message = await _reader.ReadResponseAsync(noBody, cts.Token);
        return new RawResponse(message.Status, message.Reason, message.Headers, message.Body);
    }

    /// <summary>Reads up to <paramref name="count"/> body bytes; returns fewer if the peer closes.</summary>
    public async Task<byte[]> ReadUpToAsync(int count, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        return await _reader.ReadUpToAsync(count, cts.Token);
    }

    /// <summary>True when the server closes the connection (read returns 0 or reset) within the timeout.</summary>
    public async Task<bool> WaitForCloseAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                _reader.TakeBuffered();
                if (!await _reader.FillAsync(cts.Token))
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

using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>Deterministic payloads and small helpers shared by the conformance tests.</summary>
public static class ConformanceData
{
    private static readonly Lazy<byte[]> s_large = new(() => Bytes(50 * 1024 * 1024, seed: 42));

    /// <summary>50 MiB of seeded pseudo-random bytes (computed once per process).</summary>
    public static byte[] Large => s_large.Value;

    public static byte[] Bytes(int length, int seed)
    {
        var bytes = GC.AllocateUninitializedArray<byte>(length);
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static string Sha256(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>Every transport kind (the EventLoop cases skip until the engine exists), for <c>[MemberData]</c>.</summary>
    public static TheoryData<TransportKind> Transports => [.. Enum.GetValues<TransportKind>()];

    public static bool IPv6LoopbackAvailable()
    {
        if (!Socket.OSSupportsIPv6)
        {
            return false;
        }

        try
        {
            using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>A port free on 127.0.0.1 and (when available) [::1] right now, for ListenLocalhost.</summary>
    public static int FreeLocalhostPort()
    {
        var ipv6 = IPv6LoopbackAvailable();
        for (var attempt = 0; attempt < 20; attempt++)
        {
            using var v4 = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            v4.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)v4.LocalEndPoint!).Port;
            if (!ipv6)
            {
                return port;
            }

            try
            {
                using var v6 = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
                v6.Bind(new IPEndPoint(IPAddress.IPv6Loopback, port));
                return port;
            }
            catch (SocketException)
            {
            }
        }

        throw new InvalidOperationException("No port free on both loopback addresses.");
    }

    /// <summary>True when a TCP connect to <paramref name="endPoint"/> is refused (nothing listens).</summary>
    public static async Task<bool> IsRefusedAsync(EndPoint endPoint)
    {
        using var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        using var cts = Wire.Timeout(TimeSpan.FromSeconds(2));
        try
        {
            await socket.ConnectAsync(endPoint, cts.Token);
            return false;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return true;
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Waits for <paramref name="task"/> with a timeout that fails the test.</summary>
    public static async Task<T> Within<T>(this Task<T> task, TimeSpan timeout, string what)
    {
        try
        {
            return await task.WaitAsync(timeout, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#} s waiting for {what}.");
        }
    }

    public static async Task Within(this Task task, TimeSpan timeout, string what)
    {
        try
        {
            await task.WaitAsync(timeout, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#} s waiting for {what}.");
        }
    }

    /// <summary>
    /// An endpoint body that writes <paramref name="chunk"/> after chunk until the request is
    /// aborted or <paramref name="limit"/> passes, then reports how the writes ended ("stopped",
    /// "completed" or "write threw T") and whether RequestAborted fired within
    /// <paramref name="limit"/>.
    /// </summary>
    /// <remarks>
    /// Bounded by time, not by a count of bytes or writes: once Kestrel aborts a connection its
    /// writes complete at once without sending, and RequestAborted is signalled a little later from
    /// the thread pool, so a count-bounded loop could run out first ("completed; RequestAborted=True",
    /// seen in CI on Kestrel's own socket transport).
    /// </remarks>
    public static async Task<string> WriteUntilAbortedAsync(HttpContext context, ReadOnlyMemory<byte> chunk, TimeSpan limit)
    {
        var how = "completed";
        try
        {
            var deadline = DateTime.UtcNow + limit;
            while (!context.RequestAborted.IsCancellationRequested && DateTime.UtcNow < deadline)
            {
                await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
            }

            how = context.RequestAborted.IsCancellationRequested ? "stopped" : how;
        }
        catch (OperationCanceledException)
        {
            how = "stopped";
        }
        catch (Exception ex)
        {
            how = "write threw " + ex.GetType().FullName;
        }

        var aborted = await Poll.UntilAsync(() => context.RequestAborted.IsCancellationRequested, limit);
        return $"{how}; RequestAborted={aborted}";
    }
}

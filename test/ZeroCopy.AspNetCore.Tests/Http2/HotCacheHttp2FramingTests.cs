using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace ZeroCopy.AspNetCore.Tests.Http2;

/// <summary>
/// A hot-cache response over HTTP/2 ends in one DATA frame that carries END_STREAM (RFC 9113
/// §6.1), not a DATA frame followed by an empty one: each extra frame is one more TLS record and
/// send per response. Read off the wire with a minimal prior-knowledge HTTP/2 client.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class HotCacheHttp2FramingTests : IDisposable
{
    private const byte Data = 0x0;
    private const byte Headers = 0x1;
    private const byte RstStream = 0x3;
    private const byte Settings = 0x4;
    private const byte GoAway = 0x7;
    private const byte EndStream = 0x1;
    private const byte EndHeaders = 0x4;
    private const byte Ack = 0x1;
    private readonly TempDirectory _root = new("zc-h2-frames");

    public HotCacheHttp2FramingTests()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The hot-file cache needs Linux.");
        _root.WriteRandom("small.bin", 4096, seed: 11);
    }

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task A_hot_cache_body_is_one_data_frame_with_end_stream()
    {
        await using var host = await TestHost.StartAsync(
            HostKind.Kestrel,
            _root.Path,
            builder =>
            {
                builder.Services.AddZeroCopyStaticFiles(o =>
                {
                    o.Root = ".";
                    o.Cache.MinHits = 1;
                });
                builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
            },
            app => app.UseZeroCopyStaticFiles(),
            new TestHostOptions { ListenOnLoopback = false });
        var port = new Uri(host.App.Urls.First()).Port;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(30));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token);
        await using var stream = new NetworkStream(socket, ownsSocket: false);

        await stream.WriteAsync("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray(), cts.Token);
        await WriteFrameAsync(stream, Settings, 0, 0, [], cts.Token);
        // Stream 1 admits the file (MinHits 1), stream 3 is a hit.
        var first = await GetAsync(stream, 1, port, cts.Token);
        var hit = await GetAsync(stream, 3, port, cts.Token);

        Assert.Equal(200, first.Status);
        Assert.Equal(200, hit.Status);
        var data = Assert.Single(hit.Frames, f => f.Type == Data);
        Assert.Equal(4096, data.Length);
        Assert.Equal(EndStream, data.Flags & EndStream);
        Assert.Equal(File.ReadAllBytes(_root.Combine("small.bin")), data.Payload);
    }

    private sealed record Frame(byte Type, byte Flags, int Stream, int Length, byte[] Payload);

    private sealed record Exchange(int Status, List<Frame> Frames);

    /// <summary>GET /small.bin on <paramref name="streamId"/>; the frames of that stream until it ends.</summary>
    private static async Task<Exchange> GetAsync(NetworkStream stream, int streamId, int port, CancellationToken cancel)
    {
        // HPACK (RFC 7541): indexed :method GET (2) and :scheme http (6); :path (4) and :authority (1)
        // as literals without indexing, with an indexed name and a plain string.
        var block = new List<byte> { 0x82, 0x86 };
        AddLiteral(block, 4, "/small.bin");
        AddLiteral(block, 1, $"127.0.0.1:{port}");
        await WriteFrameAsync(stream, Headers, EndStream | EndHeaders, streamId, [.. block], cancel);

        var frames = new List<Frame>();
        var status = 0;
        while (true)
        {
            var frame = await ReadFrameAsync(stream, cancel);
            if (frame.Type == Settings && (frame.Flags & Ack) == 0)
            {
                await WriteFrameAsync(stream, Settings, Ack, 0, [], cancel);
            }

            Assert.NotEqual(GoAway, frame.Type);
            if (frame.Stream != streamId)
            {
                continue;
            }

            Assert.NotEqual(RstStream, frame.Type);
            frames.Add(frame);
            if (frame.Type == Headers)
            {
                // :status 200 is the static table's entry 8 (0x88); any other status fails below.
                status = frame.Payload.Length > 0 && frame.Payload[0] == 0x88 ? 200 : -1;
            }

            if ((frame.Flags & EndStream) != 0 && frame.Type is Data or Headers)
            {
                return new Exchange(status, frames);
            }
        }
    }

    private static void AddLiteral(List<byte> block, int nameIndex, string value)
    {
        block.Add((byte)nameIndex);
        var bytes = Encoding.ASCII.GetBytes(value);
        Assert.True(bytes.Length < 127, "a one-byte length prefix");
        block.Add((byte)bytes.Length);
        block.AddRange(bytes);
    }

    private static async Task WriteFrameAsync(NetworkStream stream, byte type, int flags, int streamId, byte[] payload, CancellationToken cancel)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = (byte)flags;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), streamId);
        payload.CopyTo(frame, 9);
        await stream.WriteAsync(frame, cancel);
    }

    private static async Task<Frame> ReadFrameAsync(NetworkStream stream, CancellationToken cancel)
    {
        var header = new byte[9];
        await stream.ReadExactlyAsync(header, cancel);
        var length = (header[0] << 16) | (header[1] << 8) | header[2];
        var payload = new byte[length];
        await stream.ReadExactlyAsync(payload, cancel);
        return new Frame(header[3], header[4], BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5)) & 0x7fffffff, length, payload);
    }
}

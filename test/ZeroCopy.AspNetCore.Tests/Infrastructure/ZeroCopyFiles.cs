namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>
/// Files shared by the transport tests (created once per test class): the sizes of the issue, plus a
/// sparse 5 GiB file with known bytes around 2^31 and 2^32.
/// </summary>
public sealed class ZeroCopyFiles : IDisposable
{
    public static readonly long[] Sizes = [0, 1, 4095, 65536, (1 << 20) + 1, 100L << 20];
    public const long SparseLength = 5L << 30;
    public static readonly long[] MarkerOffsets = [(1L << 31) - 65536, (1L << 32) - 65536, SparseLength - 131072];
    public const int MarkerLength = 131072;

    public ZeroCopyFiles()
    {
        Root = new TempDirectory("zc-files");
        foreach (var size in Sizes)
        {
            Root.WriteRandom(Name(size), size, seed: (int)(size % 1000) + 11);
        }

        Root.WriteRandom("small.bin", 100_000, seed: 5);
        Root.Write("page.html", "<p>hello</p>");

        SparsePath = Root.Combine("sparse.bin");
        using var stream = new FileStream(SparsePath, FileMode.Create, FileAccess.Write);
        stream.SetLength(SparseLength);
        var random = new Random(42);
        var marker = new byte[MarkerLength];
        foreach (var offset in MarkerOffsets)
        {
            random.NextBytes(marker);
            stream.Position = offset;
            stream.Write(marker);
        }
    }

    public TempDirectory Root { get; }

    public string SparsePath { get; }

    public static string Name(long size) => $"size-{size}.bin";

    /// <summary>
    /// Kestrel with the zero-copy transport on <paramref name="engine"/> serving <see cref="Root"/> with
    /// <paramref name="mode"/>, without the hot-file cache: these tests count the strategy that sent
    /// each body, and the cache (a strategy of its own) admits files on their first request.
    /// </summary>
    public Task<TestHost> StartAsync(ZeroCopyTransportEngine engine, ZeroCopyMode mode, long minZeroCopyBytes = 0, Action<WebApplication>? after = null)
        => Hosts.ZeroCopyAsync(
            HostKind.Kestrel,
            Root,
            after: after,
            configureBuilder: builder => Engines.Use(builder, engine),
            settings: o =>
            {
                (o.Mode, o.MinZeroCopyBytes) = (mode, minZeroCopyBytes);
                o.Cache.Enabled = false;
            });

    /// <summary>The bytes of the sparse file in [offset, offset + count), read from disk.</summary>
    public byte[] SparseSlice(long offset, int count)
    {
        using var stream = File.OpenRead(SparsePath);
        stream.Position = offset;
        var buffer = new byte[count];
        stream.ReadExactly(buffer);
        return buffer;
    }

    public void Dispose() => Root.Dispose();
}

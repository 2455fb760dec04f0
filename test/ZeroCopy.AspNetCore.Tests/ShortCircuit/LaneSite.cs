using System.Text;

namespace ZeroCopy.AspNetCore.Tests.ShortCircuit;

/// <summary>
/// A small served folder for the lane's connection tests: small files the lane answers once cached,
/// a file larger than the lane sends itself, a precompressed sibling, a file never warmed, and a
/// "secret" file that smuggled requests aim at.
/// </summary>
public sealed class LaneSite : IDisposable
{
    public static readonly DateTime LastModifiedUtc = new(2024, 5, 6, 7, 8, 9, DateTimeKind.Utc);

    /// <summary>Files warmed into the hot-file cache (GET through the middleware) before a test sends anything.</summary>
    public static readonly string[] Warmed = ["/small.txt", "/page.html", "/data.json", "/secret.txt", "/mid.bin", "/big.bin", "/app.js"];

    public LaneSite()
    {
        Root = new TempDirectory("zc-lane");
        Content = new TempDirectory("zc-lane-content");
        Write("small.txt", Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 50).Select(i => $"small line {i:D3} of the lane site\n"))));
        Write("page.html", "<!doctype html><title>lane</title><p>page</p>\n"u8.ToArray());
        Write("data.json", "{\"lane\":true,\"n\":42}\n"u8.ToArray());
        Write("secret.txt", "SECRET: served only to a request Kestrel and the lane agree on\n"u8.ToArray());
        Write("uncached.txt", "never requested before the test\n"u8.ToArray());
        Write("app.js", "console.log('lane');\n"u8.ToArray());
        Write("app.js.gz", Random(200, 3));
        Write("mid.bin", Random(40_000, 4));
        Write("big.bin", Random(100_000, 5));
    }

    public TempDirectory Root { get; }

    public TempDirectory Content { get; }

    public LaneServerOptions Options(ZeroCopyTransportEngine engine, Action<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>? kestrel = null, LogLevel minimumLevel = LogLevel.Information)
        => new() { Engine = engine, ServedRoot = Root.Path, ContentRoot = Content.Path, Kestrel = kestrel, MinimumLevel = minimumLevel };

    /// <summary>Starts the pair and warms <see cref="Warmed"/> (and app.js's gzip sibling) on both.</summary>
    public async Task<LanePair> StartAsync(ZeroCopyTransportEngine engine, Action<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>? kestrel = null, LogLevel minimumLevel = LogLevel.Information)
    {
        var pair = await LanePair.StartAsync(Options(engine, kestrel, minimumLevel));
        try
        {
            await pair.WarmAsync([.. Warmed.Select(t => (t, Array.Empty<string>())), ("/app.js", ["Accept-Encoding: gzip"])]);
            return pair;
        }
        catch
        {
            await pair.DisposeAsync();
            throw;
        }
    }

    public void Dispose()
    {
        Root.Dispose();
        Content.Dispose();
    }

    private void Write(string name, byte[] content) => File.SetLastWriteTimeUtc(Root.Write(name, content), LastModifiedUtc);

    private static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}

namespace ZeroCopy.AspNetCore.Tests.Caching;

/// <summary>
/// A hot-cache hit, seen from the kernel: one send for the whole response, and no open or stat of
/// the source file inside the validity window.
/// </summary>
public sealed class CacheKernelPathTests : IDisposable
{
    private const int Hits = 20;
    private readonly TempDirectory _root = new("zc-strace-cache");

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task A_hit_leaves_in_one_send_and_touches_no_file()
    {
        var ct = TestContext.Current.CancellationToken;
        var expected = File.ReadAllBytes(_root.WriteRandom("hot.js", 4096, seed: 2));
        _root.Write("start.txt", "start");
        _root.Write("end.txt", "end");
        await using var server = await StraceServer.StartAsync(
            _root.Path,
            _root.Combine("trace.log"),
            "accept4,openat,openat2,statx,newfstatat,fstat,stat,lstat,access,readlink,sendmsg,sendto,write,writev,sendfile,splice",
            "--ZeroCopyStaticFiles:Cache:MinHits=1",
            "--ZeroCopyStaticFiles:Cache:RevalidateAfter=600");
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1 };
        using var client = new HttpClient(handler) { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };

        // Admit it, then mark the window in the trace with two other files.
        Assert.Equal(expected, await client.GetByteArrayAsync("/hot.js", ct));
        await client.GetStringAsync("/start.txt", ct);
        for (var i = 0; i < Hits; i++)
        {
            Assert.Equal(expected, await client.GetByteArrayAsync("/hot.js", ct));
        }

        await client.GetStringAsync("/end.txt", ct);
        await server.DisposeAsync();

        var calls = server.Calls().ToList();
        var connection = (int)calls.Last(c => c.Name == "accept4" && c.Result >= 0).Result;
        var start = calls.FindIndex(c => c.Name is "openat" or "openat2" && c.Args.Contains("\"start.txt\"", StringComparison.Ordinal));
        var end = calls.FindIndex(c => c.Name is "openat" or "openat2" && c.Args.Contains("\"end.txt\"", StringComparison.Ordinal));
        Assert.True(start >= 0 && end > start, "markers not found in the trace: " + server.Output);
        var window = calls.GetRange(start, end - start);

        // start.txt's own response, then one send per hit: headers and body together.
        var sends = window.Where(c => c.Name is "sendmsg" or "sendto" or "write" or "writev" or "sendfile" or "splice" && c.Fd() == connection).ToList();
        Assert.Equal(1 + Hits, sends.Count);
        Assert.All(sends.Skip(1), s => Assert.True(s.Result > 4096, $"{s.Name} sent {s.Result} bytes: not headers and body in one send"));
        var touches = window.Where(c => c.Args.Contains("hot.js", StringComparison.Ordinal)).ToList();
        Assert.True(touches.Count == 0, "the source file was touched: " + string.Join('\n', touches));
    }
}

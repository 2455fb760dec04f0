using System.Globalization;
using System.Text.RegularExpressions;
using ZeroCopy.AspNetCore.Tests.Infrastructure;

namespace ZeroCopy.AspNetCore.Tests.Caching;

/// <summary>
/// Admissions and hits with warm arenas, seen from the kernel (the sample server under strace):
/// an admission creates, maps and unmaps nothing (it preads the file into a slot), and a hit opens,
/// stats, maps and unmaps nothing.
/// </summary>
public sealed partial class ArenaKernelPathTests : IDisposable
{
    private const int Files = 20;
    private readonly TempDirectory _root = new("zc-strace-arena");

    // Outside the root: strace appends to it all the time, and the provider's watcher lstat's a
    // file below the root on each of its inotify events.
    private readonly TempDirectory _trace = new("zc-strace-arena-trace");

    public void Dispose()
    {
        _root.Dispose();
        _trace.Dispose();
    }

    [Fact]
    public async Task Once_warm_an_admission_maps_nothing_and_a_hit_opens_stats_and_maps_nothing()
    {
        var ct = TestContext.Current.CancellationToken;
        var expected = new byte[Files][];
        for (var i = 0; i < Files; i++)
        {
            // Two classes: 2 KiB-4 KiB files in the 4 KiB class, 600-1 KiB files in the 1 KiB class.
            expected[i] = File.ReadAllBytes(_root.WriteRandom($"n/{i}.bin", i % 2 == 0 ? 2100 + (i * 90) : 600 + (i * 20), seed: i));
        }

        _root.WriteRandom("warm/4k.bin", 3000, seed: 100);
        _root.WriteRandom("warm/1k.bin", 700, seed: 101);
        foreach (var marker in new[] { "warm/512.txt", "start.txt", "mid.txt", "end.txt" })
        {
            _root.Write(marker, marker);
        }

        await using var server = await StraceServer.StartAsync(
            _root.Path,
            _trace.Combine("trace.log"),
            "accept4,openat,openat2,statx,newfstatat,fstat,stat,lstat,memfd_create,mmap,munmap,mremap,ftruncate,fallocate,pread64,sendmsg,sendto,write,writev,sendfile,splice",
            "--ZeroCopyStaticFiles:Cache:MinHits=1",
            "--ZeroCopyStaticFiles:Cache:RevalidateAfter=600");
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1 };
        using var client = new HttpClient(handler) { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };

        // Warm the three classes (each gets its arena), then admit 20 files, then hit each once.
        foreach (var warm in new[] { "/warm/4k.bin", "/warm/1k.bin", "/warm/512.txt" })
        {
            await client.GetByteArrayAsync(warm, ct);
        }

        await client.GetStringAsync("/start.txt", ct);
        for (var i = 0; i < Files; i++)
        {
            Assert.Equal(expected[i], await client.GetByteArrayAsync($"/n/{i}.bin", ct));
        }

        await client.GetStringAsync("/mid.txt", ct);
        for (var i = 0; i < Files; i++)
        {
            Assert.Equal(expected[i], await client.GetByteArrayAsync($"/n/{i}.bin", ct));
        }

        await client.GetStringAsync("/end.txt", ct);
        await server.DisposeAsync();

        var calls = server.Calls().ToList();
        int Opened(string name) => calls.FindIndex(c => c.Name is "openat" or "openat2" && c.Args.Contains("\"" + name + "\"", StringComparison.Ordinal));
        int Touched(string name) => calls.FindIndex(c => c.Args.Contains("/" + name + "\"", StringComparison.Ordinal) || c.Args.Contains("\"" + name + "\"", StringComparison.Ordinal));

        // Windows: from start.txt's open to mid.txt's first lookup; from mid.txt's response to end.txt's first lookup.
        var (start, mid, end) = (Opened("start.txt"), Touched("mid.txt"), Touched("end.txt"));
        Assert.True(start >= 0 && mid > start && end > mid, "markers not found in the trace: " + server.Output);

        // The cache's arenas: memfds named zerocopy-cache-N, and the addresses they were mapped at.
        var arenaFds = calls.Where(c => c.Name == "memfd_create" && c.Args.Contains("zerocopy-cache-", StringComparison.Ordinal) && c.Result >= 0)
            .Select(c => (int)c.Result).ToHashSet();
        var arenaMaps = MappedAddresses(server.TraceFile, arenaFds);
        Assert.Equal(3, arenaFds.Count);
        Assert.Equal(3, arenaMaps.Count);
        bool TouchesArena(TracedCall c)
            => c.Name == "memfd_create"
            || (c.Name == "mmap" && arenaFds.Contains(c.Fd(4)))
            || (c.Name is "munmap" or "mremap" && arenaMaps.Contains(Address(c)));

        // Admissions: each file opened and read with pread64; no arena created, mapped or unmapped.
        var admissions = calls.GetRange(start, mid - start);
        var admissionTouches = admissions.Where(TouchesArena).ToList();
        Assert.True(admissionTouches.Count == 0, "admissions touched arenas: " + string.Join('\n', admissionTouches));
        Assert.Equal(Files, admissions.Count(c => c.Name is "openat" or "openat2" && c.Args.Contains(".bin\"", StringComparison.Ordinal)));
        Assert.True(admissions.Count(c => c.Name == "pread64") >= Files, "no pread64 per admission: " + Summary(admissions));

        // Hits: from mid.txt's response to end.txt's open, nothing opened, stat'ed, mapped or unmapped.
        var connection = (int)calls.Last(c => c.Name == "accept4" && c.Result >= 0).Result;
        var midSent = calls.FindIndex(mid, c => c.Name is "sendmsg" or "sendto" or "write" or "writev" && c.Fd() == connection);
        Assert.True(midSent > mid && midSent < end, "mid.txt's response not found");
        var hits = calls.GetRange(midSent + 1, end - midSent - 1);
        var fileCalls = hits.Where(c => c.Name is "openat" or "openat2" or "statx" or "newfstatat" or "fstat" or "stat" or "lstat" || TouchesArena(c)).ToList();
        Assert.True(fileCalls.Count == 0, "hits touched files or arenas: " + string.Join('\n', fileCalls));
        var sends = hits.Where(c => c.Name is "sendmsg" or "sendto" or "write" or "writev" or "sendfile" or "splice" && c.Fd() == connection).ToList();
        Assert.Equal(Files, sends.Count);

        TestContext.Current.TestOutputHelper?.WriteLine($"admissions: {Summary(admissions)}");
        TestContext.Current.TestOutputHelper?.WriteLine($"hits: {Summary(hits)}");
    }

    /// <summary>Addresses returned by mmap of <paramref name="fds"/> (TracedCall keeps decimal results only; mmap's is hex).</summary>
    private static HashSet<long> MappedAddresses(string traceFile, HashSet<int> fds)
    {
        var addresses = new HashSet<long>();
        var pending = new Dictionary<string, string>();
        foreach (var line in File.ReadLines(traceFile))
        {
            var match = MmapLine().Match(line);
            if (!match.Success)
            {
                continue;
            }

            var pid = match.Groups["pid"].Value;
            string args;
            if (match.Groups["rest"].Success)
            {
                if (!pending.Remove(pid, out var first))
                {
                    continue;
                }

                args = first + match.Groups["rest"].Value;
            }
            else if (!match.Groups["address"].Success)
            {
                pending[pid] = match.Groups["args"].Value;
                continue;
            }
            else
            {
                args = match.Groups["args"].Value;
            }

            var fields = args.Split(',', StringSplitOptions.TrimEntries);
            if (match.Groups["address"].Success && fields.Length > 4 && int.TryParse(fields[4], CultureInfo.InvariantCulture, out var fd) && fds.Contains(fd))
            {
                addresses.Add(long.Parse(match.Groups["address"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
            }
        }

        return addresses;
    }

    [GeneratedRegex(@"^(?<pid>\d+)\s+(?:mmap\((?<args>.*?)(?: <unfinished \.\.\.>$|\)\s+=\s+(?:0x(?<address>[0-9a-f]+)|-1).*)|<\.\.\. mmap resumed>(?<rest>.*?)\)\s+=\s+(?:0x(?<address>[0-9a-f]+)|-1).*)")]
    private static partial Regex MmapLine();

    private static long Address(TracedCall call)
    {
        var text = call.Arguments.ElementAtOrDefault(0) ?? string.Empty;
        return text.StartsWith("0x", StringComparison.Ordinal) && long.TryParse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var address) ? address : -1;
    }

    private static string Summary(IEnumerable<TracedCall> calls)
        => string.Join(", ", calls.GroupBy(c => c.Name).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count()}"));
}

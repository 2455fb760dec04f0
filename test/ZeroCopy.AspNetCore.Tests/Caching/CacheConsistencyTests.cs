using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.Versioning;
using ZeroCopy.AspNetCore.Caching;
using ZeroCopy.AspNetCore.Diagnostics;

namespace ZeroCopy.AspNetCore.Tests.Caching;

/// <summary>
/// A cached file truncated, rewritten, replaced by rename and deleted under 256 concurrent readers:
/// the process survives (no SIGBUS from a mapping), every body is one version whole and matches the
/// headers it was sent with, changes show within RevalidateAfter, and every memfd, mapping and
/// descriptor is released at the end.
/// </summary>
[SupportedOSPlatform("linux")]
[Collection(SerialTests.Name)]
public sealed class CacheConsistencyTests : IDisposable
{
    private const int Readers = 256;
    private const int Cycles = 1000;
    private static readonly TimeSpan s_revalidateAfter = TimeSpan.FromMilliseconds(50);
    // Scheduling slack on a 2-core machine with 256 busy readers.
    private static readonly TimeSpan s_slack = TimeSpan.FromMilliseconds(750);

    private readonly TempDirectory _root = new("zc-consistency");

    public CacheConsistencyTests()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The hot-file cache needs Linux.");
    }

    public void Dispose() => _root.Dispose();

    /// <summary>Version k: 4096 + k bytes (unique lengths, so unique ETags), starting with k.</summary>
    private static byte[] Content(long k)
    {
        var bytes = new byte[4096 + k];
        for (var i = 8; i < bytes.Length; i++)
        {
            bytes[i] = (byte)((k * 131) + (i * 7));
        }

        BinaryPrimitives.WriteInt64LittleEndian(bytes, k);
        return bytes;
    }

    private sealed record State(int Id, long Version, int Length, long At);

    private sealed record Observation(long Start, int? StateId, bool NotFound);

    [Fact]
    public async Task A_cached_file_changing_under_256_readers_is_never_served_as_a_mix_and_everything_is_released()
    {
        var path = _root.Combine("hot.bin");
        File.WriteAllBytes(path, Content(0));
        var ct = TestContext.Current.CancellationToken;
        var clock = Stopwatch.StartNew();

        // Warm up once (assemblies the runtime keeps open, socket engine pipes), then measure.
        await using (var warmup = await Hosts.ZeroCopyAsync(HostKind.Kestrel, _root))
        {
            for (var i = 0; i < 3; i++)
            {
                await warmup.Client.GetByteArrayAsync("/hot.bin", ct);
            }
        }

        var baseline = Posix.OpenDescriptorCount();

        var host = await Hosts.ZeroCopyAsync(HostKind.Kestrel, _root, configureBuilder: b => b.Services.AddZeroCopyStaticFiles(o =>
        {
            o.Cache.MinHits = 1;
            o.Cache.RevalidateAfter = s_revalidateAfter;
        }));
        var cache = (FileCache)Assert.Single(host.Services.GetRequiredService<ZeroCopyMetrics>().Caches);
        var states = new ConcurrentDictionary<(long Version, int Length), State>();
        var deletes = new ConcurrentBag<State>();
        var timeline = new List<State> { new(0, 0, 4096, Stopwatch.GetTimestamp()) };
        states[(0, 4096)] = timeline[0];
        var observations = new ConcurrentQueue<Observation>();
        var failures = new ConcurrentQueue<string>();
        var aborted = 0;
        using var stop = new CancellationTokenSource();

        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = Readers };
        using var client = new HttpClient(handler) { BaseAddress = host.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        var readers = Enumerable.Range(0, Readers).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var start = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await client.GetAsync("/hot.bin", ct);
                    if (response.StatusCode == HttpStatusCode.NotFound)
                    {
                        observations.Enqueue(new Observation(start, null, true));
                        continue;
                    }

                    var body = await response.Content.ReadAsByteArrayAsync(ct);
                    var check = Check(response, body, states);
                    if (check.Error is not null)
                    {
                        failures.Enqueue(check.Error);
                    }
                    else if (check.StateId is not null)
                    {
                        observations.Enqueue(new Observation(start, check.StateId, false));
                    }
                }
                catch (HttpRequestException)
                {
                    // An aborted response (the file changed under a response streamed from disk):
                    // never wrong bytes, but counted.
                    Interlocked.Increment(ref aborted);
                }
            }
        }, ct)).ToArray();

        long version = 0;
        var length = 4096;
        for (var cycle = 0; cycle < Cycles; cycle++)
        {
            switch (cycle % 4)
            {
                case 0:
                    // Rewrite in place (O_TRUNC + write: the same inode passes through partial states).
                    version++;
                    var rewritten = Content(version);
                    length = rewritten.Length;
                    Register(states, timeline, version, length);
                    File.WriteAllBytes(path, rewritten);
                    break;
                case 1:
                    // Truncate to half: a prefix of the current version.
                    length /= 2;
                    Register(states, timeline, version, length);
                    using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
                    {
                        stream.SetLength(length);
                    }

                    break;
                case 2:
                    // Replace by rename: atomic.
                    version++;
                    var replacement = Content(version);
                    length = replacement.Length;
                    Register(states, timeline, version, length);
                    File.WriteAllBytes(path + ".tmp", replacement);
                    File.Move(path + ".tmp", path, overwrite: true);
                    break;
                default:
                    File.Delete(path);
                    var gone = new State(timeline.Count, -1, -1, Stopwatch.GetTimestamp());
                    timeline.Add(gone);
                    deletes.Add(gone);
                    break;
            }

            timeline[^1] = timeline[^1] with { At = Stopwatch.GetTimestamp() };
            await Task.Delay(5, ct);
        }

        var mutations = clock.Elapsed;
        await stop.CancelAsync();
        await Task.WhenAll(readers);
        TestContext.Current.TestOutputHelper?.WriteLine($"{Cycles} cycles in {mutations}, {observations.Count} responses, {aborted} aborted");

        Assert.True(failures.IsEmpty, string.Join('\n', failures.Take(20)));
        var seen = observations.ToArray();
        Assert.True(seen.Length > 5000, $"only {seen.Length} responses");
        Assert.True(aborted < seen.Length / 100, $"{aborted} aborted responses of {seen.Length}");

        // Changes are visible within RevalidateAfter: a request started that long (plus slack)
        // after a change never sees an older state.
        var window = (long)((s_revalidateAfter + s_slack).TotalSeconds * Stopwatch.Frequency);
        var stale = new List<string>();
        foreach (var observation in seen)
        {
            var latest = timeline.LastOrDefault(s => s.At <= observation.Start - window);
            if (latest is null)
            {
                continue;
            }

            var ok = observation.NotFound
                ? deletes.Any(d => d.Id >= latest.Id)
                : observation.StateId >= latest.Id;
            if (!ok)
            {
                stale.Add($"request at {Stopwatch.GetElapsedTime(timeline[0].At, observation.Start).TotalMilliseconds:F0} ms saw state {observation.StateId?.ToString(CultureInfo.InvariantCulture) ?? "404"}, state {latest.Id} was current since {Stopwatch.GetElapsedTime(timeline[0].At, latest.At).TotalMilliseconds:F0} ms");
            }
        }

        Assert.True(stale.Count == 0, $"{stale.Count} stale responses, e.g.\n" + string.Join('\n', stale.Take(10)));

        // Memfds: one mapping per arena, every entry's slot inside one; none after the host is gone; descriptors back.
        ArenaProbe.AssertMappingsAreTheArenas(cache, new ZeroCopyCacheOptions().MaxTotalBytes);
        await host.DisposeAsync();
        client.Dispose();
        Assert.True(await Poll.UntilAsync(() => MemfdMappings(cache.MemfdName) == 0, TimeSpan.FromSeconds(5)), $"{MemfdMappings(cache.MemfdName)} mappings left");
        Assert.True(await Poll.UntilAsync(() => Posix.OpenDescriptorCount() <= baseline + 2, TimeSpan.FromSeconds(10)), $"descriptors {Posix.OpenDescriptorCount()}, baseline {baseline}: {Posix.DescribeDescriptors()}");
    }

    private static void Register(ConcurrentDictionary<(long, int), State> states, List<State> timeline, long version, int length)
    {
        var state = new State(timeline.Count, version, length, Stopwatch.GetTimestamp());
        timeline.Add(state);
        states[(version, length)] = state;
    }

    /// <summary>The body is exactly a prefix of one version and matches its headers.</summary>
    private static (int? StateId, string? Error) Check(HttpResponseMessage response, byte[] body, ConcurrentDictionary<(long, int), State> states)
    {
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return (null, $"status {(int)response.StatusCode}");
        }

        if (response.Content.Headers.ContentLength != body.Length)
        {
            return (null, $"length {body.Length}, Content-Length {response.Content.Headers.ContentLength}");
        }

        var lastModified = response.Content.Headers.LastModified!.Value;
        var etag = "\"" + (lastModified.ToFileTime() ^ body.Length).ToString("x", CultureInfo.InvariantCulture) + "\"";
        if (response.Headers.ETag?.Tag != etag)
        {
            return (null, $"ETag {response.Headers.ETag?.Tag} does not describe Last-Modified {lastModified:r} and length {body.Length}");
        }

        if (body.Length == 0)
        {
            // The empty file an in-place rewrite passes through (O_TRUNC before the write): a
            // consistent version of its own, of unknown place in the timeline.
            return (null, null);
        }

        if (body.Length < 8)
        {
            return (null, $"a body of {body.Length} bytes is no version's prefix");
        }

        var version = BinaryPrimitives.ReadInt64LittleEndian(body);
        var expected = Content(version);
        if (body.Length > expected.Length || !body.AsSpan().SequenceEqual(expected.AsSpan(0, body.Length)))
        {
            return (null, $"a body of {body.Length} bytes claiming version {version} is not that version's bytes (a mix)");
        }

        // Intermediate states of an in-place rewrite are consistent prefixes too; map them to the version.
        return states.TryGetValue((version, body.Length), out var state) ? (state.Id, null) : (NearestState(states, version), null);
    }

    private static int? NearestState(ConcurrentDictionary<(long Version, int Length), State> states, long version)
        => states.Values.Where(s => s.Version == version).Select(s => (int?)s.Id).Min();

    private static int MemfdMappings(string name)
        => File.ReadLines("/proc/self/maps")
            .Where(line => line.Contains("/memfd:" + name + " ", StringComparison.Ordinal) || line.EndsWith("/memfd:" + name + " (deleted)", StringComparison.Ordinal))
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[4])
            .Distinct()
            .Count();
}

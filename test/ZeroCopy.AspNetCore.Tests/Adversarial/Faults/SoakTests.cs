using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;

namespace ZeroCopy.AspNetCore.Tests.Adversarial.Faults;

/// <summary>
/// Case 5 (soak): mixed keep-alive traffic — sizes from 0 B to 64 MiB, whole files, single ranges,
/// HEAD, If-None-Match (304) and unsatisfiable ranges (416) — over 256 connections spread across
/// three servers (Auto with the hot cache at its defaults: hot-cache snapshots, sendfile, cached
/// descriptors, stream below the threshold; Splice; Stream). Every body is compared byte for byte
/// with the file and every body up to 1 MiB is also SHA-256-checked; 0 errors allowed. Afterwards
/// open descriptors, cache memfd mappings and RSS after a forced GC are back to the baseline taken
/// after a warm-up (descriptors ± 4, memfds equal, RSS + 64 MiB at most).
/// </summary>
/// <remarks>
/// CI form: 20,000 requests. Full form (<c>ZC_RELIABILITY_FULL=1</c>, <c>perf/reliability/run.sh</c>):
/// 200,000 requests. The request mix is seeded, so a run is repeatable request for request.
/// </remarks>
[Collection(SerialTests.Name)]
public sealed class SoakTests : IDisposable
{
    private const int Connections = 256;
    private static readonly long s_rssAllowance = 64L << 20;
    private readonly TempDirectory _root = new("zc-soak");

    public SoakTests() => FaultHosts.RequireLinux();

    public void Dispose() => _root.Dispose();

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task Mixed_keep_alive_traffic_has_no_error_and_leaves_descriptors_memfds_and_memory_at_baseline(ZeroCopyTransportEngine engine)
    {
        Engines.Require(engine);
        var ct = TestContext.Current.CancellationToken;
        var total = Scale.Full ? 200_000 : 20_000;
        var files = SoakFile.CreateSet(_root);

        await using var auto = await FaultHosts.StartAsync(_root, FaultStrategy.SendFile, engine, quietLogs: true, tune: o =>
        {
            o.Mode = ZeroCopyMode.Auto;
            // The defaults, except pacing: the warm-up must admit every cacheable file, so the
            // cache's set of entries (memfds, mappings) is the same at the baseline and at the end.
            o.Cache = new ZeroCopyCacheOptions();
            o.MinZeroCopyBytes = 16 * 1024;
        });
        await using var splice = await FaultHosts.StartAsync(_root, FaultStrategy.Splice, engine, quietLogs: true, tune: o => o.MinZeroCopyBytes = 16 * 1024);
        await using var stream = await FaultHosts.StartAsync(_root, FaultStrategy.Stream, engine, quietLogs: true);
        TestHost[] hosts = [auto, splice, stream];
        var metrics = hosts.Select(FaultHosts.Metrics).ToArray();
        try
        {
            var transports = hosts.Select(FaultHosts.Transport).ToArray();
            int Descriptors() => ProcessProbe.DescriptorsExceptImages() - transports.Sum(t => t.CachedDescriptors);
            var etags = new ConcurrentDictionary<(int Host, string Path), string>();

            // Warm-up: every file twice on every server (the cache admits on the 2nd hit), then the
            // same mix as the soak at the same concurrency, then every connection closed.
            foreach (var file in files)
            {
                for (var host = 0; host < hosts.Length; host++)
                {
                    for (var i = 0; i < 2; i++)
                    {
                        var head = await FetchExactAsync(hosts[host].Port, file, ct);
                        etags[(host, file.Path)] = head.Header("ETag") ?? string.Empty;
                    }
                }
            }

            var warmUp = await new SoakDriver(hosts, files, etags, requests: 2_000, seed: 1).RunAsync(ct);
            Assert.True(warmUp.Errors.IsEmpty, "warm-up errors: " + string.Join(" | ", warmUp.Errors.Take(5)));
            await ProcessProbe.SettleAsync(() => Descriptors());
            ProcessProbe.ForceGc();
            var fdBaseline = Descriptors();
            var memfdBaseline = ProcessProbe.MemfdMappings();
            var memfdFdBaseline = ProcessProbe.MemfdDescriptors();
            var rssBaseline = ProcessProbe.RssBytes();

            var soak = await new SoakDriver(hosts, files, etags, total, seed: 2).RunAsync(ct);

            var settle = Stopwatch.StartNew();
            var fdsBack = await Poll.UntilAsync(() => Descriptors() <= fdBaseline + 4, TimeSpan.FromSeconds(5));
            var settledAfter = settle.Elapsed;
            ProcessProbe.ForceGc();
            var fdAfter = Descriptors();
            var memfdAfter = ProcessProbe.MemfdMappings();
            var memfdFdAfter = ProcessProbe.MemfdDescriptors();
            var rssAfter = ProcessProbe.RssBytes();
            var strategies = string.Join(", ", new[] { "hot-cache", "sendfile", "splice", "stream" }.Select(s => $"{s} {metrics.Sum(m => m.Responses(s))}"));

            Figures.Report(
                $"soak: {total} requests over {Connections} keep-alive connections, 0 B..64 MiB, ranges/HEAD/304/416, {engine} engine",
                $"{soak.Requests} requests in {Figures.Seconds(soak.Elapsed)} ({soak.Requests / soak.Elapsed.TotalSeconds:F0} req/s, {ProcessProbe.Mib(soak.BodyBytes)} of bodies); errors {soak.Errors.Count}; "
                + $"bodies byte-compared {soak.Compared}, SHA-256-checked {soak.Hashed}; statuses {soak.StatusSummary()}; responses by strategy: {strategies}");
            Figures.Report(
                $"soak, {engine} engine: resources after the run vs the baseline after warm-up",
                $"descriptors {fdAfter} vs {fdBaseline} ({(fdsBack ? $"back within {Figures.Seconds(settledAfter)}" : "NOT back within 5 s")}; managed images and pooled splice pipes excluded); "
                + $"cache memfd mappings {memfdAfter} vs {memfdBaseline}, memfd descriptors {memfdFdAfter} vs {memfdFdBaseline}; "
                + $"RSS after forced GC {ProcessProbe.Mib(rssAfter)} vs {ProcessProbe.Mib(rssBaseline)} ({ProcessProbe.Mib(rssAfter - rssBaseline)} more)");

            Assert.True(soak.Errors.IsEmpty, $"{soak.Errors.Count} errors, first: " + string.Join(" | ", soak.Errors.Take(10)));
            Assert.True(soak.Hashed >= Math.Min(10_000, total / 2), $"only {soak.Hashed} bodies hash-checked");
            Assert.True(fdsBack, $"descriptors {fdAfter} vs baseline {fdBaseline}: {Posix.DescribeDescriptors()}");
            Assert.Equal(memfdBaseline, memfdAfter);
            Assert.Equal(memfdFdBaseline, memfdFdAfter);
            Assert.True(rssAfter <= rssBaseline + s_rssAllowance, $"RSS {ProcessProbe.Mib(rssAfter)} vs baseline {ProcessProbe.Mib(rssBaseline)}");
            var errors = hosts.SelectMany(h => h.Logs.Records).Where(r => r.Level >= LogLevel.Error).ToList();
            Assert.True(errors.Count == 0, $"{errors.Count} errors logged, first: {errors.FirstOrDefault()?.Message} {errors.FirstOrDefault()?.Exception}");
        }
        finally
        {
            foreach (var m in metrics)
            {
                m.Dispose();
            }
        }
    }

    private static async Task<WireResponse> FetchExactAsync(int port, SoakFile file, CancellationToken ct)
    {
        using var connection = await WireClient.ConnectAsync(port);
        await connection.SendAsync(Wire.Get(file.Path, "Connection: close"));
        var head = await connection.ReadHeadAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(200, head.Status);
        using var check = new BodyCheck(file.Bytes, hash: false);
        var read = await connection.ReadBodyAsync(head.ContentLength, check.Append, TimeSpan.FromSeconds(30));
        Assert.True(read.End == BodyEnd.Complete && check.Finish(), $"{file.Path}: {read}, mismatch at {check.FirstMismatch}");
        return head;
    }
}

/// <summary>One file of the soak set, in memory, with its SHA-256.</summary>
internal sealed record SoakFile(string Path, byte[] Bytes, byte[] Sha256, int Weight)
{
    /// <summary>
    /// 0 B and 1 B; the 16 KiB threshold ± 1; 64 KiB; 1 MiB (the snapshot limit) and 1 MiB + 1;
    /// 200 files of 1–16 KiB; 40 of 16–512 KiB; 4, 16 and 64 MiB. Weights give ~0.2 MiB per request.
    /// </summary>
    public static List<SoakFile> CreateSet(TempDirectory root)
    {
        var files = new List<SoakFile>();
        var random = new Random(51);
        void Add(string path, int length, int weight)
        {
            var bytes = File.ReadAllBytes(root.WriteRandom(path, length, seed: files.Count + 1000));
            files.Add(new SoakFile("/" + path, bytes, SHA256.HashData(bytes), weight));
        }

        Add("e/empty.bin", 0, 100);
        Add("e/one.bin", 1, 100);
        foreach (var length in new[] { 16383, 16384, 16385, 65536, 1 << 20, (1 << 20) + 1 })
        {
            Add($"e/{length}.bin", length, 100);
        }

        for (var i = 0; i < 200; i++)
        {
            Add($"s/{i:000}.bin", random.Next(1, 16 * 1024), 36);
        }

        for (var i = 0; i < 40; i++)
        {
            Add($"m/{i:00}.bin", random.Next(16 * 1024, 512 * 1024), 60);
        }

        Add("b/4m.bin", 4 << 20, 100);
        Add("b/16m.bin", 16 << 20, 40);
        Add("b/64m.bin", 64 << 20, 10);
        return files;
    }
}

/// <summary>Result of a soak run.</summary>
internal sealed class SoakResult
{
    public ConcurrentQueue<string> Errors { get; } = new();

    public ConcurrentDictionary<int, int> Statuses { get; } = new();

    public long Requests;
    public long Compared;
    public long Hashed;
    public long BodyBytes;

    public TimeSpan Elapsed { get; set; }

    public string StatusSummary() => string.Join(", ", Statuses.OrderBy(p => p.Key).Select(p => $"{p.Key}: {p.Value}"));
}

/// <summary>
/// Drives a request mix over <c>256</c> keep-alive connections (half to the first server, a quarter
/// to each other), one request at a time per connection, until the total is reached.
/// </summary>
internal sealed class SoakDriver
{
    private readonly TestHost[] _hosts;
    private readonly List<SoakFile> _files;
    private readonly int[] _cumulative;
    private readonly ConcurrentDictionary<(int Host, string Path), string> _etags;
    private readonly int _requests;
    private readonly int _seed;
    private readonly SoakResult _result = new();
    private int _issued;

    public SoakDriver(TestHost[] hosts, List<SoakFile> files, ConcurrentDictionary<(int Host, string Path), string> etags, int requests, int seed)
    {
        _hosts = hosts;
        _files = files;
        _etags = etags;
        _requests = requests;
        _seed = seed;
        _cumulative = new int[files.Count];
        var sum = 0;
        for (var i = 0; i < files.Count; i++)
        {
            sum += files[i].Weight;
            _cumulative[i] = sum;
        }
    }

    public async Task<SoakResult> RunAsync(CancellationToken ct)
    {
        var stopwatch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 256).Select(i => RunConnectionAsync(i, i < 128 ? 0 : i < 192 ? 1 : 2, ct)))
            .WaitAsync(TimeSpan.FromSeconds(Scale.Full ? 1200 : 240), ct);
        _result.Elapsed = stopwatch.Elapsed;
        return _result;
    }

    private async Task RunConnectionAsync(int index, int host, CancellationToken ct)
    {
        var random = new Random(_seed * 1000 + index);
        WireClient? connection = null;
        try
        {
            while (Interlocked.Increment(ref _issued) <= _requests)
            {
                connection ??= await WireClient.ConnectAsync(_hosts[host].Port);
                var file = _files[Pick(random)];
                var request = SoakRequest.Choose(random, file, _etags.GetValueOrDefault((host, file.Path)));
                try
                {
                    await request.RunAsync(connection, file, _result, ct);
                }
                catch (Exception ex) when (ex is IOException or TimeoutException or System.Net.Sockets.SocketException or Xunit.Sdk.XunitException)
                {
                    _result.Errors.Enqueue($"server {host} {request}: {ex.GetType().Name}: {ex.Message}");
                    connection.Dispose();
                    connection = null;
                }

                Interlocked.Increment(ref _result.Requests);
            }
        }
        finally
        {
            connection?.Dispose();
        }
    }

    private int Pick(Random random)
    {
        var x = random.Next(_cumulative[^1]);
        var i = Array.BinarySearch(_cumulative, x + 1);
        return i >= 0 ? i : ~i;
    }
}

/// <summary>One request of the mix and what must come back.</summary>
internal sealed record SoakRequest(string Kind, string Text, int Status, long Start, long Count, bool HasBody)
{
    public static SoakRequest Choose(Random random, SoakFile file, string? etag)
    {
        var length = file.Bytes.Length;
        var roll = random.Next(100);
        if (roll < 2 && !string.IsNullOrEmpty(etag))
        {
            return new("if-none-match", Wire.Get(file.Path, "If-None-Match: " + etag), 304, 0, 0, false);
        }

        if (roll < 4)
        {
            return new("head", Wire.Request("HEAD", file.Path), 200, 0, length, false);
        }

        if (roll < 5 && length > 0)
        {
            return new("unsatisfiable", Wire.Get(file.Path, $"Range: bytes={length}-"), 416, 0, 0, true);
        }

        if (roll < 25 && length > 0)
        {
            long start;
            long end;
            string spec;
            switch (random.Next(3))
            {
                case 0:
                    start = random.NextInt64(length);
                    end = random.NextInt64(start, length);
                    spec = $"{start}-{end}";
                    break;
                case 1:
                    start = random.NextInt64(length);
                    end = length - 1;
                    spec = $"{start}-";
                    break;
                default:
                    var suffix = random.NextInt64(1, length + 1);
                    start = length - suffix;
                    end = length - 1;
                    spec = $"-{suffix}";
                    break;
            }

            return new("range " + spec, Wire.Get(file.Path, "Range: bytes=" + spec), 206, start, end - start + 1, true);
        }

        return new("get", Wire.Get(file.Path), 200, 0, length, true);
    }

    public async Task RunAsync(WireClient connection, SoakFile file, SoakResult result, CancellationToken ct)
    {
        await connection.SendAsync(Text);
        var head = await connection.ReadHeadAsync(TimeSpan.FromSeconds(60));
        result.Statuses.AddOrUpdate(head.Status, 1, (_, n) => n + 1);
        if (head.Status != Status)
        {
            throw new IOException($"status {head.Status}, expected {Status}: {head}");
        }

        if (!HasBody)
        {
            if (Kind == "head" && head.ContentLength != Count)
            {
                throw new IOException($"HEAD Content-Length {head.ContentLength}, expected {Count}");
            }

            return;
        }

        if (head.ContentLength != Count)
        {
            throw new IOException($"Content-Length {head.ContentLength}, expected {Count}: {head}");
        }

        if (Status == 206 && head.Header("Content-Range") != string.Create(CultureInfo.InvariantCulture, $"bytes {Start}-{Start + Count - 1}/{file.Bytes.Length}"))
        {
            throw new IOException($"Content-Range {head.Header("Content-Range")} for {Kind} of {file.Bytes.Length}");
        }

        var hash = Count <= HashLimit && Status != 416;
        var expected = Status == 416 ? ReadOnlyMemory<byte>.Empty : file.Bytes.AsMemory((int)Start, (int)Count);
        using var check = new BodyCheck(expected, hash, Status == 200 ? file.Sha256 : null);
        var read = await connection.ReadBodyAsync(Count, check.Append, TimeSpan.FromSeconds(30));
        if (read.End != BodyEnd.Complete)
        {
            throw new IOException($"body {read} of {Count}");
        }

        if (!check.Finish())
        {
            throw new IOException($"body differs from the file at offset {check.FirstMismatch} (of {Count})");
        }

        Interlocked.Add(ref result.BodyBytes, Count);
        Interlocked.Increment(ref result.Compared);
        if (hash)
        {
            Interlocked.Increment(ref result.Hashed);
        }
    }

    private const long HashLimit = 1 << 20;

    public override string ToString() => Kind + " " + Text.Split("\r\n")[0];
}

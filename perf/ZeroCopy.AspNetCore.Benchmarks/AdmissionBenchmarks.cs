using System.Runtime.Versioning;
using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.FileProviders;
using ZeroCopy.AspNetCore.Caching;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Files;

namespace ZeroCopy.AspNetCore.Benchmarks;

/// <summary>
/// What it costs to admit a small file into the hot-file cache, against what a miss of the same
/// file costs (issue 13's target: an admission of an 8 KiB file at most 2× a miss). Per file:
/// <list type="bullet">
/// <item><c>Miss</c>: what an uncached request does with the file: provider lookup, open below the
/// root, fstat, version description, one pread of the body, close.</item>
/// <item><c>Admission</c>: the same, then <c>FileCache.Offer</c> admitting it (MinHits 1, no pacing),
/// and, when the cache is disposed after the batch, the entry's release (an eviction).</item>
/// </list>
/// Each invocation walks <see cref="Files"/> distinct files into a new cache, so no admission finds
/// its file cached and every copy lands in a fresh arena page (the first touch of tmpfs pages is part
/// of the figure; a slot reused in steady state has its pages already). Copies keep no descriptor
/// below the library's default MinZeroCopyBytes, as in an application. Linux only.
/// </summary>
[MemoryDiagnoser]
[SupportedOSPlatform("linux")]
public class AdmissionBenchmarks
{
    private const int Files = 512;
    private const int FileLength = 8 * 1024;

    private string _root = null!;
    private string[] _paths = null!;
    private PhysicalFileProvider _provider = null!;
    private RootDirectory _directory = null!;
    private ETagFactory _etags = null!;
    private ZeroCopyMetrics _metrics = null!;
    private readonly byte[] _body = new byte[FileLength];
    private FileCache _warm = null!;

    [GlobalSetup]
    public void Setup()
    {
        _root = Directory.CreateTempSubdirectory("zcbench-admission-").FullName;
        _paths = new string[Files];
        for (var i = 0; i < Files; i++)
        {
            _paths[i] = $"/f/{i / 64}/file{i}.bin";
            var full = Path.Combine(_root, _paths[i].TrimStart('/'));
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllBytes(full, RandomNumberGenerator.GetBytes(FileLength));
        }

        _provider = new PhysicalFileProvider(_root);
        _directory = new RootDirectory(_root);
        _etags = new ETagFactory(ETagMode.Stock, manifestPath: null);
        _metrics = new ZeroCopyMetrics(meterFactory: null);
        _warm = new FileCache(Options(), _directory, _provider, _etags, keepDescriptorFrom: ZeroCopyStaticFilesOptions.DefaultMinZeroCopyBytes, _metrics);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _warm.Dispose();
        _metrics.Dispose();
        _directory.Dispose();
        _provider.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Files, Description = "miss: lookup + open + fstat + describe + pread 8 KiB")]
    public long Miss()
    {
        long total = 0;
        foreach (var path in _paths)
        {
            using var file = Resolve(path);
            total += RandomAccess.Read(file.Handle!, _body, 0);
        }

        return total;
    }

    [Benchmark(OperationsPerInvoke = Files, Description = "admission: the miss's lookup and open, then Offer admitting 8 KiB into a new arena (and its eviction)")]
    public long Admission()
    {
        using var cache = new FileCache(Options(), _directory, _provider, _etags, keepDescriptorFrom: ZeroCopyStaticFilesOptions.DefaultMinZeroCopyBytes, _metrics);
        return AdmitAll(cache);
    }

    /// <summary>
    /// The same admissions into slots that earlier admissions used and eviction freed, as in a
    /// cache that has been serving for a while: the slots' tmpfs pages exist, so the copy faults
    /// none in (in <see cref="Admission"/> about 40 % of the time is those first-touch faults:
    /// perf record, docs/performance/findings-2026-12.md).
    /// </summary>
    [Benchmark(OperationsPerInvoke = Files, Description = "admission into reused slots (and its eviction)")]
    public long AdmissionIntoReusedSlots()
    {
        var total = AdmitAll(_warm);
        _warm.EvictAll();
        return total;
    }

    private static ZeroCopyCacheOptions Options() => new() { MinHits = 1, MaxEntries = 10 * Files, RevalidateAfter = TimeSpan.FromHours(1) };

    private long AdmitAll(FileCache cache)
    {
        long total = 0;
        foreach (var path in _paths)
        {
            using var file = Resolve(path);
            var entry = cache.Offer(new CacheKey(path, 0), path, file.Version, file.Handle!) ?? throw new InvalidOperationException("not admitted");
            total += entry.Version.Length;
            entry.Release();
        }

        return total;
    }

    private ResolvedFile Resolve(string path)
        => FileResolver.Resolve(_directory, _etags, _provider.GetFileInfo(path), path, "application/octet-stream", contentEncoding: null, out _)
            ?? throw new InvalidOperationException("not resolved: " + path);
}

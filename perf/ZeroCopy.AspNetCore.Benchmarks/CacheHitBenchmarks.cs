using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.Versioning;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.FileProviders;
using ZeroCopy.AspNetCore.Caching;
using ZeroCopy.AspNetCore.StaticFiles;
using ZeroCopy.AspNetCore.Files;

namespace ZeroCopy.AspNetCore.Benchmarks;

/// <summary>
/// The hot-file cache on its own: a hit (lookup, freshness check, reference taken and released),
/// and copying a 4 KiB snapshot into a pipe as a hit's body does (MiddlewareBenchmarks measures
/// whole requests). Linux only.
/// </summary>
[MemoryDiagnoser]
[SupportedOSPlatform("linux")]
public class CacheHitBenchmarks
{
    private TempRoot _root = null!;
    private Pipelines _pipelines = null!;
    private PhysicalFileProvider _provider = null!;
    private FileCache _cache = null!;
    private Pipe _pipe = null!;

    [GlobalSetup]
    public void Setup()
    {
        _root = new TempRoot();
        _pipelines = new Pipelines(_root.Path);
        _provider = new PhysicalFileProvider(_root.Path);
        var site = _pipelines.BuildSite(_provider);
        _cache = site.Cache ?? throw new InvalidOperationException("The cache is off.");
        // Admit the file (MinHits = 2).
        for (var i = 0; i < 2; i++)
        {
            var info = _provider.GetFileInfo(TempRoot.FilePath);
            using var file = FileResolver.Resolve(site.Root, site.ETags, info, TempRoot.FilePath, "text/css", contentEncoding: null, out _)!;
            _cache.Offer(new CacheKey(TempRoot.FilePath, 0), TempRoot.FilePath, file.Version, file.Handle!)?.Release();
        }

        _pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cache.Dispose();
        _provider.Dispose();
        _pipelines.Dispose();
        _root.Dispose();
    }

    [Benchmark(Description = "hit: lookup + freshness + reference")]
    public long Hit()
    {
        var entry = _cache.TryGet(new CacheKey(TempRoot.FilePath, 0)) ?? throw new InvalidOperationException("miss");
        var length = entry.Version.Length;
        entry.Release();
        return length;
    }

    [Benchmark(Description = "hit + 4 KiB snapshot copied into a pipe")]
    public async ValueTask<long> HitAndCopy()
    {
        var entry = _cache.TryGet(new CacheKey(TempRoot.FilePath, 0)) ?? throw new InvalidOperationException("miss");
        try
        {
            _pipe.Writer.Write(((ZeroCopy.AspNetCore.Files.IHeldFile)entry).Content);
            await _pipe.Writer.FlushAsync();
            var read = await _pipe.Reader.ReadAsync();
            var length = read.Buffer.Length;
            _pipe.Reader.AdvanceTo(read.Buffer.End);
            return length;
        }
        finally
        {
            entry.Release();
        }
    }

    [Benchmark(Description = "miss: unknown path")]
    public bool Miss() => _cache.TryGet(new CacheKey("/not/cached.css", 0)) is null;
}

using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Microsoft.AspNetCore.Http;
using ZeroCopy.AspNetCore.StaticFiles;
using ZeroCopy.AspNetCore.Files;

namespace ZeroCopy.AspNetCore.Benchmarks;

/// <summary>
/// A whole request through the middleware, stock <c>UseStaticFiles</c> (baseline) against
/// <c>UseZeroCopyStaticFiles</c> with its defaults (hot-file cache on: a warmed-up run measures
/// cache hits) and with the cache off (open + fstat per request), Stream strategy: path → content
/// type → file lookup → preconditions → range → headers → body to Stream.Null. Each category
/// compares one kind of request; the DefaultHttpContext is created inside the measurement.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class MiddlewareBenchmarks
{
    private TempRoot _root = null!;
    private Pipelines _pipelines = null!;
    private string _etag = null!;

    [GlobalSetup]
    public void Setup()
    {
        _root = new TempRoot();
        _pipelines = new Pipelines(_root.Path);
        var info = new FileInfo(_root.PhysicalPath(TempRoot.FilePath));
        _etag = FileVersion.StockETag(new DateTimeOffset(info.LastWriteTimeUtc), info.Length);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pipelines.Dispose();
        _root.Dispose();
    }

    [Benchmark(Baseline = true), BenchmarkCategory("GET 200 (4 KiB)")]
    public Task Stock_200() => Run(_pipelines.Stock, Pipelines.Get(TempRoot.FilePath), 200);

    [Benchmark, BenchmarkCategory("GET 200 (4 KiB)")]
    public Task Ours_200() => Run(_pipelines.Ours, Pipelines.Get(TempRoot.FilePath), 200);

    [Benchmark, BenchmarkCategory("GET 200 (4 KiB)")]
    public Task OursUncached_200() => Run(_pipelines.OursUncached, Pipelines.Get(TempRoot.FilePath), 200);

    [Benchmark(Baseline = true), BenchmarkCategory("GET 200, 5 folders deep")]
    public Task Stock_200_deep() => Run(_pipelines.Stock, Pipelines.Get(TempRoot.DeepFilePath), 200);

    [Benchmark, BenchmarkCategory("GET 200, 5 folders deep")]
    public Task Ours_200_deep() => Run(_pipelines.Ours, Pipelines.Get(TempRoot.DeepFilePath), 200);

    [Benchmark, BenchmarkCategory("GET 200, 5 folders deep")]
    public Task OursUncached_200_deep() => Run(_pipelines.OursUncached, Pipelines.Get(TempRoot.DeepFilePath), 200);

    [Benchmark(Baseline = true), BenchmarkCategory("If-None-Match → 304")]
    public Task Stock_304() => Run(_pipelines.Stock, Pipelines.Get(TempRoot.FilePath, ifNoneMatch: _etag), 304);

    [Benchmark, BenchmarkCategory("If-None-Match → 304")]
    public Task Ours_304() => Run(_pipelines.Ours, Pipelines.Get(TempRoot.FilePath, ifNoneMatch: _etag), 304);

    [Benchmark, BenchmarkCategory("If-None-Match → 304")]
    public Task OursUncached_304() => Run(_pipelines.OursUncached, Pipelines.Get(TempRoot.FilePath, ifNoneMatch: _etag), 304);

    [Benchmark(Baseline = true), BenchmarkCategory("Range → 206")]
    public Task Stock_206() => Run(_pipelines.Stock, Pipelines.Get(TempRoot.FilePath, range: "bytes=1024-2047"), 206);

    [Benchmark, BenchmarkCategory("Range → 206")]
    public Task Ours_206() => Run(_pipelines.Ours, Pipelines.Get(TempRoot.FilePath, range: "bytes=1024-2047"), 206);

    [Benchmark, BenchmarkCategory("Range → 206")]
    public Task OursUncached_206() => Run(_pipelines.OursUncached, Pipelines.Get(TempRoot.FilePath, range: "bytes=1024-2047"), 206);

    [Benchmark(Baseline = true), BenchmarkCategory("missing file → next")]
    public Task Stock_miss() => Run(_pipelines.Stock, Pipelines.Get("/css/missing.css"), 404);

    [Benchmark, BenchmarkCategory("missing file → next")]
    public Task Ours_miss() => Run(_pipelines.Ours, Pipelines.Get("/css/missing.css"), 404);

    private static async Task Run(RequestDelegate pipeline, HttpContext context, int expected)
    {
        await pipeline(context);
        if (context.Response.StatusCode != expected)
        {
            // A benchmark of the wrong response would be a fast, meaningless number.
            throw new InvalidOperationException($"{context.Request.Path}: status {context.Response.StatusCode}, expected {expected}.");
        }
    }
}

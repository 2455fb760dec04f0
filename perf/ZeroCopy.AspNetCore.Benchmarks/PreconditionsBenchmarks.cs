using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using ZeroCopy.AspNetCore.StaticFiles;
using ZeroCopy.AspNetCore.Files;

namespace ZeroCopy.AspNetCore.Benchmarks;

/// <summary>
/// <c>Preconditions.Evaluate</c> (RFC 9110 §13.2.2) on every GET and HEAD: the common cases are no
/// conditional header at all, and a browser revalidating with If-None-Match and If-Modified-Since.
/// </summary>
[MemoryDiagnoser]
public class PreconditionsBenchmarks
{
    private static readonly DateTimeOffset s_lastModified = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
    private static readonly DateTimeOffset s_now = s_lastModified.AddDays(30);
    private readonly EntityTagHeaderValue _etag = new(FileVersion.StockETag(s_lastModified, 4096));
    private readonly IHeaderDictionary _none = new HeaderDictionary();
    private readonly IHeaderDictionary _revalidate = new HeaderDictionary();
    private readonly IHeaderDictionary _ifModifiedSince = new HeaderDictionary();
    private readonly IHeaderDictionary _ifMatchList = new HeaderDictionary();

    [GlobalSetup]
    public void Setup()
    {
        _revalidate.IfNoneMatch = _etag.ToString();
        _revalidate.IfModifiedSince = HeaderUtilities.FormatDate(s_lastModified);
        _ifModifiedSince.IfModifiedSince = HeaderUtilities.FormatDate(s_lastModified);
        _ifMatchList.IfMatch = "\"a\", \"b\", W/\"c\"";
    }

    [Benchmark(Baseline = true, Description = "no conditional header → proceed")]
    public int None() => (int)Preconditions.Evaluate(_none, _etag, s_lastModified, s_now);

    [Benchmark(Description = "If-None-Match + If-Modified-Since → 304")]
    public int Revalidate() => (int)Preconditions.Evaluate(_revalidate, _etag, s_lastModified, s_now);

    [Benchmark(Description = "If-Modified-Since only → 304")]
    public int IfModifiedSince() => (int)Preconditions.Evaluate(_ifModifiedSince, _etag, s_lastModified, s_now);

    [Benchmark(Description = "If-Match list, no match → 412")]
    public int IfMatchList() => (int)Preconditions.Evaluate(_ifMatchList, _etag, s_lastModified, s_now);
}

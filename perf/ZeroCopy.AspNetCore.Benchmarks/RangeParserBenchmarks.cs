using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using ZeroCopy.AspNetCore.StaticFiles;
using ZeroCopy.AspNetCore.Files;

namespace ZeroCopy.AspNetCore.Benchmarks;

/// <summary><c>RangeParser.Select</c> (RFC 9110 §14.2) on every GET with a body.</summary>
[MemoryDiagnoser]
public class RangeParserBenchmarks
{
    private const long Length = 64L * 1024 * 1024;
    private static readonly DateTimeOffset s_lastModified = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
    private readonly EntityTagHeaderValue _etag = new(FileVersion.StockETag(s_lastModified, Length));
    private readonly IHeaderDictionary _none = new HeaderDictionary();
    private readonly IHeaderDictionary _single = new HeaderDictionary();
    private readonly IHeaderDictionary _suffix = new HeaderDictionary();
    private readonly IHeaderDictionary _ifRange = new HeaderDictionary();
    private readonly IHeaderDictionary _multiple = new HeaderDictionary();

    // RangeSelection is internal: benchmarks return a number made of all its fields.
    private static long Fold(RangeSelection selection) => selection.Start ^ selection.Length ^ (long)selection.Kind;

    [GlobalSetup]
    public void Setup()
    {
        _single.Range = "bytes=1048576-2097151";
        _suffix.Range = "bytes=-500";
        _ifRange.Range = "bytes=1048576-";
        _ifRange.IfRange = _etag.ToString();
        _multiple.Range = "bytes=0-99, 200-299";
    }

    [Benchmark(Baseline = true, Description = "no Range → full")]
    public long None() => Fold(RangeParser.Select(_none, Length, s_lastModified, _etag));

    [Benchmark(Description = "bytes=a-b → 206")]
    public long SingleRange() => Fold(RangeParser.Select(_single, Length, s_lastModified, _etag));

    [Benchmark(Description = "bytes=-n → 206")]
    public long SuffixRange() => Fold(RangeParser.Select(_suffix, Length, s_lastModified, _etag));

    [Benchmark(Description = "bytes=a- with If-Range ETag → 206 (resumed download)")]
    public long IfRange() => Fold(RangeParser.Select(_ifRange, Length, s_lastModified, _etag));

    [Benchmark(Description = "two ranges → full")]
    public long MultipleRanges() => Fold(RangeParser.Select(_multiple, Length, s_lastModified, _etag));
}

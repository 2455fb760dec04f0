using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Logging.Abstractions;
using ZeroCopy.AspNetCore.StaticFiles;
using ZeroCopy.AspNetCore.Files;

namespace ZeroCopy.AspNetCore.Benchmarks;

/// <summary>
/// The validators and response headers of a 200: FileVersion's Last-Modified truncation and stock
/// ETag, and FileHeaders.ApplyAsync (Content-Type, Last-Modified, ETag, Accept-Ranges,
/// Content-Length, Cache-Control when configured). "context only" is the DefaultHttpContext every
/// header benchmark creates, to subtract.
/// </summary>
[MemoryDiagnoser]
public class HeaderWritingBenchmarks
{
    private TempRoot _root = null!;
    private Pipelines _pipelines = null!;
    private PhysicalFileProvider _provider = null!;
    private StaticFileSite _site = null!;
    private IFileInfo _info = null!;
    private FileVersion _file = null!;

    [GlobalSetup]
    public void Setup()
    {
        _root = new TempRoot();
        _pipelines = new Pipelines(_root.Path);
        _provider = new PhysicalFileProvider(_root.Path);
        _site = _pipelines.BuildSite(_provider);
        _info = _provider.GetFileInfo(TempRoot.FilePath);
        _file = new FileVersion(_info, "text/css", _info.Length, _info.LastModified, identity: null);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _provider.Dispose();
        _pipelines.Dispose();
        _root.Dispose();
    }

    [Benchmark(Description = "validators: Last-Modified + stock ETag")]
    public int Validators() => new FileVersion(_info, "text/css", _info.Length, _info.LastModified, identity: null).ETag.Tag.Length;

    [Benchmark(Baseline = true, Description = "context only (DefaultHttpContext)")]
    public int ContextOnly() => new DefaultHttpContext().Response.Headers.Count;

    [Benchmark(Description = "context + 200 headers")]
    public int Headers200()
    {
        var context = new DefaultHttpContext();
        _ = new FileHeaders(context, _site, _file, TempRoot.FilePath, NullLogger.Instance, vary: false, _site.CacheControlRules.For(TempRoot.FilePath)).ApplyAsync(StatusCodes.Status200OK);
        return context.Response.Headers.Count;
    }
}

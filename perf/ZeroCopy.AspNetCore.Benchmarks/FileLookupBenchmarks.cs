using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.FileProviders;
using ZeroCopy.AspNetCore.StaticFiles;
using ZeroCopy.AspNetCore.Files;

namespace ZeroCopy.AspNetCore.Benchmarks;

/// <summary>
/// Path → file: what stock does (PhysicalFileProvider.GetFileInfo, then Exists, Length and
/// LastModified from its stat) against ours (the same GetFileInfo, then openat2 beneath the root,
/// fstat of the opened descriptor, validators; the descriptor is closed here as after a response).
/// </summary>
[MemoryDiagnoser]
public class FileLookupBenchmarks
{
    private TempRoot _root = null!;
    private Pipelines _pipelines = null!;
    private PhysicalFileProvider _provider = null!;
    private StaticFileSite _site = null!;

    [GlobalSetup]
    public void Setup()
    {
        _root = new TempRoot();
        _pipelines = new Pipelines(_root.Path);
        _provider = new PhysicalFileProvider(_root.Path);
        _site = _pipelines.BuildSite(_provider);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _provider.Dispose();
        _pipelines.Dispose();
        _root.Dispose();
    }

    [Benchmark(Baseline = true, Description = "stock: GetFileInfo + Exists/Length/LastModified")]
    public long Stock()
    {
        var info = _provider.GetFileInfo(TempRoot.DeepFilePath);
        return info.Exists ? info.Length ^ info.LastModified.UtcTicks : 0;
    }

    [Benchmark(Description = "ours: GetFileInfo + openat2 + fstat + validators + close")]
    public long Ours()
    {
        var info = _provider.GetFileInfo(TempRoot.DeepFilePath);
        if (!info.Exists)
        {
            return 0;
        }

        using var file = FileResolver.Resolve(_site.Root, _site.ETags, info, TempRoot.DeepFilePath, "image/svg+xml", contentEncoding: null, out _);
        return file is null ? -1 : file.Version.Length ^ file.Version.LastModified.UtcTicks;
    }

    [Benchmark(Description = "missing file (both: GetFileInfo only)")]
    public bool Missing() => _provider.GetFileInfo("/assets/v1/img/icons/missing.svg").Exists;
}

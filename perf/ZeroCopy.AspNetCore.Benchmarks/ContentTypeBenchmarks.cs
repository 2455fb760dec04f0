using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.StaticFiles;
using ZeroCopy.AspNetCore.StaticFiles;

namespace ZeroCopy.AspNetCore.Benchmarks;

/// <summary>
/// Content type lookup on every request that reaches the middleware: stock's provider alone
/// (baseline), and ours, which consults the configured <c>ContentTypes</c> map first.
/// </summary>
[MemoryDiagnoser]
public class ContentTypeBenchmarks
{
    private const string Path = "/assets/v1/img/icons/logo.svg";
    private const string ExtraPath = "/site.webmanifest";
    private readonly FileExtensionContentTypeProvider _stock = new();
    private ContentTypeResolver _plain = null!;
    private ContentTypeResolver _withExtras = null!;

    [GlobalSetup]
    public void Setup()
    {
        _plain = new ContentTypeResolver(_stock, new Dictionary<string, string>());
        _withExtras = new ContentTypeResolver(_stock, new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            [".webmanifest"] = "application/manifest+json",
            ["avif"] = "image/avif",
        });
    }

    [Benchmark(Baseline = true, Description = "stock FileExtensionContentTypeProvider")]
    public string? Stock() => _stock.TryGetContentType(Path, out var type) ? type : null;

    [Benchmark(Description = "ours, no ContentTypes configured")]
    public string? Ours() => _plain.TryGetContentType(Path, out var type) ? type : null;

    [Benchmark(Description = "ours, ContentTypes configured, provider hit")]
    public string? OursExtrasMiss() => _withExtras.TryGetContentType(Path, out var type) ? type : null;

    [Benchmark(Description = "ours, ContentTypes configured, map hit")]
    public string? OursExtrasHit() => _withExtras.TryGetContentType(ExtraPath, out var type) ? type : null;
}

using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.FileProviders;

namespace ZeroCopy.AspNetCore.Benchmarks;

/// <summary>The host environment a middleware needs, over a temporary folder.</summary>
public sealed class BenchmarkEnvironment : IWebHostEnvironment
{
    public BenchmarkEnvironment(string root)
    {
        ContentRootPath = root;
        WebRootPath = root;
        ContentRootFileProvider = new NullFileProvider();
        WebRootFileProvider = new NullFileProvider();
    }

    public string WebRootPath { get; set; }
    public IFileProvider WebRootFileProvider { get; set; }
    public string ApplicationName { get; set; } = "ZeroCopy.AspNetCore.Benchmarks";
    public IFileProvider ContentRootFileProvider { get; set; }
    public string ContentRootPath { get; set; }
    public string EnvironmentName { get; set; } = "Production";
}

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ZeroCopy.AspNetCore.Benchmarks;

/// <summary>
/// Stock <c>UseStaticFiles</c> and ours built the way an application builds them (an
/// <see cref="ApplicationBuilder"/> over a service provider), both over a
/// <see cref="PhysicalFileProvider"/> of the same folder, ending in a 404 terminal middleware.
/// </summary>
public sealed class Pipelines : IDisposable
{
    private readonly ServiceProvider _services;
    private readonly ServiceProvider _uncachedServices;
    private readonly PhysicalFileProvider _stockProvider;
    private readonly PhysicalFileProvider _oursProvider;
    private readonly PhysicalFileProvider _uncachedProvider;

    public Pipelines(string root)
    {
        // Stream: a DefaultHttpContext has no zero-copy connection, so every other mode would only
        // add a fallback; the body path measured is the one every mode falls back to.
        _services = CreateServices(root, new KeyValuePair<string, string?>("ZeroCopyStaticFiles:Mode", "Stream"));
        _uncachedServices = CreateServices(root, new KeyValuePair<string, string?>("ZeroCopyStaticFiles:Mode", "Stream"), new KeyValuePair<string, string?>("ZeroCopyStaticFiles:Cache:Enabled", "false"));

        _stockProvider = new PhysicalFileProvider(root);
        _oursProvider = new PhysicalFileProvider(root);
        _uncachedProvider = new PhysicalFileProvider(root);
        Stock = Build(_services, app => app.UseStaticFiles(new StaticFileOptions { FileProvider = _stockProvider }));
        Ours = Build(_services, app => app.UseZeroCopyStaticFiles(new StaticFileOptions { FileProvider = _oursProvider }));
        OursUncached = Build(_uncachedServices, app => app.UseZeroCopyStaticFiles(new StaticFileOptions { FileProvider = _uncachedProvider }));
    }

    public IServiceProvider Services => _services;

    public RequestDelegate Stock { get; }

    /// <summary>Ours with its defaults: the hot-file cache on (a warmed-up benchmark measures hits).</summary>
    public RequestDelegate Ours { get; }

    /// <summary>Ours with the cache off: every request opens and fstats the file.</summary>
    public RequestDelegate OursUncached { get; }

    /// <summary>The site our middleware would build over <paramref name="provider"/>, with these services' settings.</summary>
    internal ZeroCopy.AspNetCore.StaticFiles.StaticFileSite BuildSite(IFileProvider provider)
        => ZeroCopy.AspNetCore.StaticFiles.StaticFileSiteBuilder.Build(
            new StaticFileOptions { FileProvider = provider },
            codeWins: true,
            _services.GetRequiredService<ZeroCopy.AspNetCore.Configuration.ZeroCopySettings>(),
            _services.GetRequiredService<ZeroCopy.AspNetCore.Files.FileRoots>(),
            _services.GetRequiredService<IWebHostEnvironment>(),
            _services.GetRequiredService<ZeroCopy.AspNetCore.Diagnostics.ZeroCopyMetrics>());

    private static ServiceProvider CreateServices(string root, params KeyValuePair<string, string?>[] settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var environment = new BenchmarkEnvironment(root);
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddSingleton<IWebHostEnvironment>(environment);
        services.AddSingleton<IHostEnvironment>(environment);
        services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
        services.AddSingleton(typeof(ILogger<>), typeof(NullLogger<>));
        services.AddZeroCopyStaticFiles();
        return services.BuildServiceProvider();
    }

    /// <summary>A GET as a server would hand it over (the body goes to Stream.Null).</summary>
    public static DefaultHttpContext Get(string path, string? ifNoneMatch = null, string? range = null)
    {
        var context = new DefaultHttpContext();
        var request = context.Request;
        request.Method = HttpMethods.Get;
        request.Scheme = "http";
        request.Host = new HostString("127.0.0.1");
        request.Path = path;
        if (ifNoneMatch is not null)
        {
            request.Headers.IfNoneMatch = ifNoneMatch;
        }

        if (range is not null)
        {
            request.Headers.Range = range;
        }

        return context;
    }

    private static RequestDelegate Build(IServiceProvider services, Action<IApplicationBuilder> use)
    {
        var app = new ApplicationBuilder(services);
        use(app);
        app.Run(static context =>
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
        return app.Build();
    }

    public void Dispose()
    {
        _services.Dispose();
        _uncachedServices.Dispose();
        _stockProvider.Dispose();
        _oursProvider.Dispose();
        _uncachedProvider.Dispose();
    }
}

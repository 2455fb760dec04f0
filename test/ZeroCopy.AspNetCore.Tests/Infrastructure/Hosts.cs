using Microsoft.Extensions.FileProviders;

namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>Short-hands for the hosts most tests need.</summary>
public static class Hosts
{
    /// <summary>
    /// <c>AddZeroCopyStaticFiles(settings)</c> + <c>UseZeroCopyStaticFiles(options)</c> serving <paramref name="root"/>.
    /// </summary>
    public static Task<TestHost> ZeroCopyAsync(
        HostKind kind,
        TempDirectory root,
        Action<StaticFileOptions>? configureOptions = null,
        Action<WebApplicationBuilder>? configureBuilder = null,
        Action<WebApplication>? before = null,
        Action<WebApplication>? after = null,
        Action<ZeroCopyStaticFilesOptions>? settings = null)
        => TestHost.StartAsync(
            kind,
            root.Path,
            builder =>
            {
                builder.Services.AddZeroCopyStaticFiles();
                if (settings is not null)
                {
                    builder.Services.Configure(settings);
                }

                configureBuilder?.Invoke(builder);
            },
            app =>
            {
                before?.Invoke(app);
                var options = new StaticFileOptions { FileProvider = new PhysicalFileProvider(root.Path) };
                configureOptions?.Invoke(options);
                app.UseZeroCopyStaticFiles(options);
                after?.Invoke(app);
            });

    /// <summary>Stock <c>UseStaticFiles(options)</c> serving <paramref name="root"/>.</summary>
    public static Task<TestHost> StockAsync(HostKind kind, TempDirectory root, Action<StaticFileOptions>? configureOptions = null)
        => TestHost.StartAsync(
            kind,
            root.Path,
            null,
            app =>
            {
                var options = new StaticFileOptions { FileProvider = new PhysicalFileProvider(root.Path) };
                configureOptions?.Invoke(options);
                app.UseStaticFiles(options);
            });
}

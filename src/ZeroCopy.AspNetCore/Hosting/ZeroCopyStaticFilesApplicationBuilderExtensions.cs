using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZeroCopy.AspNetCore;
using ZeroCopy.AspNetCore.Configuration;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.StaticFiles;

namespace Microsoft.AspNetCore.Builder;

/// <summary>
/// <c>UseZeroCopyStaticFiles</c>: the drop-in replacement of <c>UseStaticFiles</c>, with the same
/// overloads and the same <see cref="StaticFileOptions"/>.
/// </summary>
public static class ZeroCopyStaticFilesApplicationBuilderExtensions
{
    private const string UnregisteredKey = "ZeroCopy.AspNetCore.Unregistered";

    /// <summary>
    /// Serves files from the web root, or from the <c>ZeroCopyStaticFiles</c> configuration
    /// section's <c>Root</c>/<c>RequestPath</c>, with the <see cref="StaticFileOptions"/> registered
    /// in DI for everything else. Same place in the pipeline as <c>UseStaticFiles()</c>.
    /// </summary>
    /// <param name="app">The application.</param>
    /// <returns><paramref name="app"/>.</returns>
    public static IApplicationBuilder UseZeroCopyStaticFiles(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = app.ApplicationServices.GetRequiredService<IOptions<StaticFileOptions>>().Value;
        return UseCore(app, options, codeWins: false);
    }

    /// <summary>Serves files from the web root under <paramref name="requestPath"/>.</summary>
    /// <param name="app">The application.</param>
    /// <param name="requestPath">The URL prefix, for example <c>/static</c>.</param>
    /// <returns><paramref name="app"/>.</returns>
    public static IApplicationBuilder UseZeroCopyStaticFiles(this IApplicationBuilder app, string requestPath)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.UseZeroCopyStaticFiles(new StaticFileOptions { RequestPath = new PathString(requestPath) });
    }

    /// <summary>Serves files as described by <paramref name="options"/>, exactly as <c>UseStaticFiles(options)</c> would.</summary>
    /// <param name="app">The application.</param>
    /// <param name="options">The stock static file options.</param>
    /// <returns><paramref name="app"/>.</returns>
    public static IApplicationBuilder UseZeroCopyStaticFiles(this IApplicationBuilder app, StaticFileOptions options)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(options);
        return UseCore(app, options, codeWins: true);
    }

    private static IApplicationBuilder UseCore(IApplicationBuilder app, StaticFileOptions options, bool codeWins)
    {
        var services = app.ApplicationServices;
        var environment = services.GetRequiredService<IWebHostEnvironment>();
        var loggerFactory = services.GetRequiredService<ILoggerFactory>();

        ZeroCopySettings settings;
        ZeroCopyMetrics metrics;
        if (services.GetService<ZeroCopySettings>() is { } registered)
        {
            settings = registered;
            metrics = services.GetRequiredService<ZeroCopyMetrics>();
        }
        else
        {
            // One fallback per application, and one warning.
            if (app.Properties.TryGetValue(UnregisteredKey, out var existing) && existing is Unregistered shared)
            {
                (settings, metrics) = (shared.Settings, shared.Metrics);
            }
            else
            {
                settings = ZeroCopySettings.Unregistered(environment.ContentRootPath, loggerFactory);
                metrics = new ZeroCopyMetrics(services.GetService<IMeterFactory>());
                app.Properties[UnregisteredKey] = new Unregistered(settings, metrics);
                ZeroCopyLog.NotRegistered(loggerFactory.CreateLogger<ZeroCopyStaticFileMiddleware>(), ZeroCopyStaticFilesOptions.SectionName);
            }
        }

        return app.Use(next => new ZeroCopyStaticFileMiddleware(next, options, codeWins, settings, environment, loggerFactory, metrics).Invoke);
    }

    private sealed record Unregistered(ZeroCopySettings Settings, ZeroCopyMetrics Metrics);
}

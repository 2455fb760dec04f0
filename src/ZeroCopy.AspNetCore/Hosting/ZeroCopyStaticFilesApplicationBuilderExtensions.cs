using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZeroCopy.AspNetCore;
using ZeroCopy.AspNetCore.Body;
using ZeroCopy.AspNetCore.Configuration;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.ShortCircuit;
using ZeroCopy.AspNetCore.StaticFiles;
using ZeroCopy.AspNetCore.Files;

namespace Microsoft.AspNetCore.Builder;

/// <summary>
/// <c>UseZeroCopyStaticFiles</c>: the drop-in replacement of <c>UseStaticFiles</c>, with the same
/// overloads and the same <see cref="StaticFileOptions"/>; and <c>UseZeroCopySendFile</c>.
/// </summary>
public static class ZeroCopyStaticFilesApplicationBuilderExtensions
{
    private const string UnregisteredKey = "ZeroCopy.AspNetCore.Unregistered";
    private const string SendFileKey = "ZeroCopy.AspNetCore.SendFileInstalled";

    /// <summary>
    /// Serves files from the web root, or from the <c>ZeroCopyStaticFiles</c> configuration
    /// section's <c>Root</c>/<c>RequestPath</c>, with the <see cref="StaticFileOptions"/> registered
    /// in DI for everything else. Same place in the pipeline as <c>UseStaticFiles()</c>. Also
    /// installs <see cref="UseZeroCopySendFile"/> once.
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

    /// <summary>
    /// Makes <c>HttpResponse.SendFileAsync</c> (and what is built on it: stock
    /// <c>UseStaticFiles</c>, <c>Results.File</c>, <c>PhysicalFileResult</c>) use the zero-copy
    /// transport for middleware placed after this one, when the response is eligible; otherwise the
    /// server's own implementation runs unchanged. <c>UseZeroCopyStaticFiles</c> calls it once.
    /// </summary>
    /// <param name="app">The application.</param>
    /// <returns><paramref name="app"/>.</returns>
    public static IApplicationBuilder UseZeroCopySendFile(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var (settings, _, metrics, loggerFactory) = Resolve(app);
        app.Properties[SendFileKey] = true;
        return app.Use(next => new ZeroCopySendFileMiddleware(next, settings, metrics, loggerFactory).Invoke);
    }

    private static IApplicationBuilder UseCore(IApplicationBuilder app, StaticFileOptions options, bool codeWins)
    {
        var environment = app.ApplicationServices.GetRequiredService<IWebHostEnvironment>();
        var (settings, roots, metrics, loggerFactory) = Resolve(app);
        if (!app.Properties.ContainsKey(SendFileKey))
        {
            app.UseZeroCopySendFile();
        }

        // The lane answers for middlewares in the order they were added (ApplicationBuilder builds them last first).
        var slot = settings.IsRegistered ? app.ApplicationServices.GetService<ShortCircuitLane>()?.Reserve() : null;
        return app.Use(next =>
        {
            var middleware = new ZeroCopyStaticFileMiddleware(next, options, codeWins, settings, roots, environment, loggerFactory, metrics);
            if (slot is not null)
            {
                slot.Middleware = middleware;
            }

            return middleware.Invoke;
        });
    }

    /// <summary>The registered services, or one fallback per application (and one warning) without <c>AddZeroCopyStaticFiles()</c>.</summary>
    private static (ZeroCopySettings Settings, FileRoots Roots, ZeroCopyMetrics Metrics, ILoggerFactory LoggerFactory) Resolve(IApplicationBuilder app)
    {
        var services = app.ApplicationServices;
        var loggerFactory = services.GetRequiredService<ILoggerFactory>();
        if (services.GetService<ZeroCopySettings>() is { } registered)
        {
            return (registered, services.GetRequiredService<FileRoots>(), services.GetRequiredService<ZeroCopyMetrics>(), loggerFactory);
        }

        if (app.Properties.TryGetValue(UnregisteredKey, out var existing) && existing is Unregistered shared)
        {
            return (shared.Settings, shared.Roots, shared.Metrics, loggerFactory);
        }

        var environment = services.GetRequiredService<IWebHostEnvironment>();
        var settings = ZeroCopySettings.Unregistered(environment.ContentRootPath, loggerFactory);
        var metrics = services.GetService<ZeroCopyMetrics>() ?? new ZeroCopyMetrics(services.GetService<IMeterFactory>());
        var roots = new FileRoots();
        app.Properties[UnregisteredKey] = new Unregistered(settings, roots, metrics);
        ZeroCopyLog.NotRegistered(loggerFactory.CreateLogger<ZeroCopyStaticFileMiddleware>(), ZeroCopyStaticFilesOptions.SectionName);
        return (settings, roots, metrics, loggerFactory);
    }

    private sealed record Unregistered(ZeroCopySettings Settings, FileRoots Roots, ZeroCopyMetrics Metrics);
}

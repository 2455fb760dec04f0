using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZeroCopy.AspNetCore;
using ZeroCopy.AspNetCore.Configuration;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.ShortCircuit;
using ZeroCopy.AspNetCore.Transport;
using ZeroCopy.AspNetCore.Files;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers ZeroCopy.AspNetCore.</summary>
public static class ZeroCopyServiceCollectionExtensions
{
    /// <summary>
    /// Registers ZeroCopy.AspNetCore: the settings from the configuration section
    /// <c>ZeroCopyStaticFiles</c> (re-read when the configuration reloads), the library's metrics,
    /// and the zero-copy Kestrel transport (see <see cref="AddZeroCopyTransport"/>). Calling it more
    /// than once is harmless.
    /// </summary>
    /// <param name="services">The application's services.</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddZeroCopyStaticFiles(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddZeroCopyTransport();
        if (services.Any(static d => d.ServiceType == typeof(ZeroCopySettings)))
        {
            return services;
        }

        services.AddSingleton<IConfigureOptions<ZeroCopyStaticFilesOptions>, ConfigurationSectionReader>();
        services.AddSingleton<IOptionsChangeTokenSource<ZeroCopyStaticFilesOptions>>(static sp =>
            new ConfigurationChangeTokenSource<ZeroCopyStaticFilesOptions>(
                sp.GetRequiredService<IConfiguration>().GetSection(ZeroCopyStaticFilesOptions.SectionName)));
        services.AddSingleton<ZeroCopySettings>();
        services.TryAddSingleton<FileRoots>();
        services.TryAddSingleton<ShortCircuitLane>();
        services.TryAddSingleton<IConnectionLane>(static sp => sp.GetRequiredService<ShortCircuitLane>());
        return services;
    }

    /// <summary>
    /// Registers ZeroCopy.AspNetCore (see <see cref="AddZeroCopyStaticFiles(IServiceCollection)"/>)
    /// and changes its settings in code. Code runs after the configuration section is read, so it
    /// wins over it, also after a reload.
    /// </summary>
    /// <param name="services">The application's services.</param>
    /// <param name="configure">Changes the settings.</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddZeroCopyStaticFiles(this IServiceCollection services, Action<ZeroCopyStaticFilesOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        services.AddZeroCopyStaticFiles();
        services.Configure(configure);
        return services;
    }

    /// <summary>
    /// Registers the zero-copy Kestrel transport. Kestrel asks it before its socket transport; it
    /// binds TCP and Unix domain socket endpoints on Linux and declines the rest, which Kestrel's
    /// socket transport then serves. Its <see cref="ZeroCopyTransportOptions"/> are read from the
    /// configuration keys <c>ZeroCopyStaticFiles:Transport:Engine</c> and
    /// <c>ZeroCopyStaticFiles:Transport:EventLoopCount</c> once, when the server starts; options set in
    /// code (<c>services.Configure&lt;ZeroCopyTransportOptions&gt;</c>, <c>UseZeroCopyTransport(o =&gt; ...)</c>)
    /// win, whether registered before or after this call. Calling it more than once is harmless.
    /// </summary>
    /// <param name="services">The application's services.</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddZeroCopyTransport(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions();
        AddTransportConfiguration(services);
        services.AddMetrics();
        services.TryAddSingleton(static sp => new ZeroCopyMetrics(sp.GetService<IMeterFactory>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionListenerFactory, ZeroCopyTransportFactory>(static sp =>
            new ZeroCopyTransportFactory(
                sp.GetRequiredService<IOptions<ZeroCopyTransportOptions>>(),
                sp.GetRequiredService<IOptions<SocketTransportOptions>>(),
                sp.GetRequiredService<ILoggerFactory>(),
                sp.GetService<IMemoryPoolFactory<byte>>(),
                sp.GetRequiredService<ZeroCopyMetrics>(),
                sp.GetService<IConnectionLane>())));
        return services;
    }

    /// <summary>
    /// Registers the reader of <c>ZeroCopyStaticFiles:Transport</c> once, in front of every
    /// configuration of <see cref="ZeroCopyTransportOptions"/> already registered, and the validator.
    /// The options factory runs the <see cref="IConfigureOptions{TOptions}"/> in registration order, so
    /// code registered before this call (inserted behind the reader) and after it (appended) both run
    /// later than the reader and win.
    /// </summary>
    private static void AddTransportConfiguration(IServiceCollection services)
    {
        var reader = ServiceDescriptor.Singleton<IConfigureOptions<ZeroCopyTransportOptions>, ConfigurationSectionReader>();
        var configurations = services.Where(d => d.ServiceType == reader.ServiceType && !d.IsKeyedService).ToList();
        if (!configurations.Any(d => d.ImplementationType == reader.ImplementationType))
        {
            services.Insert(configurations.Count == 0 ? services.Count : services.IndexOf(configurations[0]), reader);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ZeroCopyTransportOptions>, TransportOptionsValidator>());
    }
}

using Microsoft.Extensions.DependencyInjection;
using ZeroCopy.AspNetCore;

namespace Microsoft.AspNetCore.Hosting;

/// <summary><c>UseZeroCopyTransport</c>: the zero-copy Kestrel transport on its own.</summary>
public static class ZeroCopyWebHostBuilderExtensions
{
    /// <summary>
    /// Uses the zero-copy transport for Kestrel's TCP and Unix domain socket endpoints on Linux
    /// (Kestrel's socket transport keeps everything else). Without <c>UseZeroCopyStaticFiles</c> or
    /// <c>UseZeroCopySendFile</c> it behaves like Kestrel's socket transport. The configuration keys
    /// <c>ZeroCopyStaticFiles:Transport:*</c> are read as by <c>AddZeroCopyTransport()</c>.
    /// </summary>
    /// <param name="builder">The web host builder.</param>
    /// <param name="configure">Changes the transport options; wins over the configuration keys.</param>
    /// <returns><paramref name="builder"/>.</returns>
    public static IWebHostBuilder UseZeroCopyTransport(this IWebHostBuilder builder, Action<ZeroCopyTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.ConfigureServices(services =>
        {
            services.AddZeroCopyTransport();
            if (configure is not null)
            {
                services.Configure(configure);
            }
        });
    }
}

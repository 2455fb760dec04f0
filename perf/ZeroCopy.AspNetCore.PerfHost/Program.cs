using System.Net;
using System.Runtime;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.FileProviders;
using ZeroCopy.AspNetCore.PerfHost;

// The server measured by perf/run.sh. One process is one server: stock Kestrel + UseStaticFiles, or
// ZeroCopy.AspNetCore with a mode, the hot cache on or off and a transport engine, serving --root on
// 127.0.0.1. When it listens it prints one line starting with "PERFHOST READY" on stdout; the harness
// waits for it.
HostArguments arguments;
try
{
    arguments = HostArguments.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine(HostArguments.Usage);
    return 2;
}

var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
{
    Args = arguments.Remaining,
    ContentRootPath = AppContext.BaseDirectory,
});

// Warnings only: logging per request would measure the logger. Command-line configuration
// (arguments.Remaining) is added after this and can still lower the level.
builder.Configuration.AddInMemoryCollection([new("Logging:LogLevel:Default", "Warning")]);
builder.Configuration.AddCommandLine(arguments.Remaining);
// The HTTPS port, when asked for: HTTP/1.1 and HTTP/2 by ALPN (Kestrel's default for TLS endpoints,
// stated here), with the certificate the harness gives every server, nginx included.
using var certificate = arguments.HttpsPort is null ? null : LoadCertificate(arguments.TlsCertificate!, arguments.TlsKey!);
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(IPAddress.Loopback, arguments.Port);
    if (arguments.HttpsPort is { } httpsPort)
    {
        kestrel.Listen(IPAddress.Loopback, httpsPort, listen =>
        {
            listen.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1AndHttp2;
            listen.UseHttps(certificate!);
        });
    }
});

var counters = new StrategyCounters(listen: arguments.Implementation == Implementation.ZeroCopy);
if (arguments.Implementation == Implementation.ZeroCopy)
{
    var settings = new List<KeyValuePair<string, string?>>
    {
        new("ZeroCopyStaticFiles:Root", arguments.Root),
        new("ZeroCopyStaticFiles:Mode", arguments.Mode),
    };
    // The hot cache's switch is always set: a mode server must measure its mode, whatever the
    // cache's default. With the cache on, its limits are the library's defaults: what a user gets.
    settings.Add(new("ZeroCopyStaticFiles:Cache:Enabled", arguments.Cache ? "true" : "false"));
    settings.AddRange(EngineSettings.For(arguments));

    // Inserted before the command line so --ZeroCopyStaticFiles:... on the command line wins.
    builder.Configuration.Sources.Insert(builder.Configuration.Sources.Count - 1, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource { InitialData = settings });
    builder.Services.AddZeroCopyStaticFiles();
}

// Kestrel's inline application scheduling (its documented unsafe mode): on stock it applies to
// Kestrel's socket transport, on ours to whichever engine runs, which honours SocketTransportOptions.
if (arguments.Inline)
{
    builder.Services.Configure<SocketTransportOptions>(static options => options.UnsafePreferInlineScheduling = true);
}

var app = builder.Build();

if (arguments.Fault is { } fault)
{
    app.Use(FaultInjection.Create(fault));
}

app.Use(next => context =>
{
    var path = context.Request.Path;
    if (path.Equals(Plaintext.Path, StringComparison.Ordinal))
    {
        return Plaintext.WriteAsync(context);
    }

    if (path.Equals(StrategyCounters.Path, StringComparison.Ordinal))
    {
        return counters.WriteAsync(context);
    }

    return next(context);
});

// WarmRoot: a second mount of the same root, with its own middleware (and, for ours, its own cache),
// which only the harness's warm-up asks for. Warm-up traffic there runs the very code of the
// measured mount (the JIT tiers per method, not per instance) while the measured mount's cache
// stays cold for the files a cell measures. Both hosts have it, first in the pipeline, so every
// measured request pays the same path-prefix check on either.
if (arguments.Implementation == Implementation.Stock)
{
    app.UseStaticFiles(new StaticFileOptions { FileProvider = new PhysicalFileProvider(arguments.Root), RequestPath = WarmRoot });
    app.UseStaticFiles(new StaticFileOptions { FileProvider = new PhysicalFileProvider(arguments.Root) });
}
else
{
    app.UseZeroCopyStaticFiles(WarmRoot);
    app.UseZeroCopyStaticFiles();
}

await app.StartAsync();

var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
var address = addresses.FirstOrDefault(static a => a.StartsWith("http://", StringComparison.Ordinal))
    ?? throw new InvalidOperationException("Kestrel reported no address.");
var https = addresses.FirstOrDefault(static a => a.StartsWith("https://", StringComparison.Ordinal));
#if DEBUG
const string Configuration = "Debug";
#else
const string Configuration = "Release";
#endif
Console.WriteLine(
    $"PERFHOST READY url={address}{(https is null ? string.Empty : " https=" + https)} pid={Environment.ProcessId} impl={arguments.Implementation} mode={arguments.Mode} " +
    $"cache={(arguments.Cache ? "on" : "off")} {EngineSettings.Describe(arguments)} inline={(arguments.Inline ? "on" : "off")} fault={arguments.Fault ?? "none"} configuration={Configuration} gc={(GCSettings.IsServerGC ? "server" : "workstation")} " +
    $"runtime={RuntimeInformation.FrameworkDescription.Replace(' ', '-')}");
Console.Out.Flush();

await app.WaitForShutdownAsync();
counters.Dispose();
return 0;

internal static partial class Program
{
    private const string WarmRoot = "/warmroot";

    /// <summary>A PEM certificate and key, re-imported as PKCS#12 so SslStream can use the key on any platform.</summary>
    private static System.Security.Cryptography.X509Certificates.X509Certificate2 LoadCertificate(string certificate, string key)
    {
        using var pem = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(certificate, key);
        return System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(
            pem.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), null);
    }
}

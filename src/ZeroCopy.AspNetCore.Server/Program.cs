using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using ZeroCopy.AspNetCore.Server;

// A small file server: `dotnet run -c Release --project src/ZeroCopy.AspNetCore.Server`
// serves the bundled demo root on http://127.0.0.1:5000. `--root DIR` serves another directory
// (relative to the current directory), `--urls` changes where it listens.
if (!ServerArguments.TryParse(args, out var arguments, out var usage))
{
    StartupErrors.Usage(usage);
    return StartupErrors.ExitUsage;
}

var builder = WebApplication.CreateBuilder(new WebApplicationOptions
{
    Args = arguments.Remaining,
    // appsettings.json and the demo root are copied next to the binary.
    ContentRootPath = AppContext.BaseDirectory,
});

if (arguments.Root is { } root)
{
    builder.Configuration.AddInMemoryCollection([new("ZeroCopyStaticFiles:Root", root)]);
}

builder.Services.AddZeroCopyStaticFiles();

WebApplication built;
try
{
    // Building creates Kestrel and the zero-copy transport, which validates ZeroCopyStaticFiles:Transport.
    built = builder.Build();
}
catch (OptionsValidationException ex)
{
    StartupErrors.InvalidSettings(ex);
    return StartupErrors.ExitConfiguration;
}

await using var app = built;
try
{
    DemoRoot.EnsureGeneratedFiles(app.Configuration, app.Environment);
    // Validates the ZeroCopyStaticFiles section; throws with every problem before anything listens.
    app.UseZeroCopyStaticFiles();
}
catch (OptionsValidationException ex)
{
    StartupErrors.InvalidSettings(ex);
    return StartupErrors.ExitConfiguration;
}

app.MapGet("/healthz", () => "ok");

await app.StartAsync();
// The middleware logs what it serves and with which strategies (event "Serving").
var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
foreach (var address in addresses)
{
    Console.WriteLine($"ZeroCopy.AspNetCore.Server listening on {address}");
}

Console.WriteLine("Press Ctrl+C to stop.");
await app.WaitForShutdownAsync();
return 0;

using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.FileProviders;

namespace ZeroCopy.AspNetCore.Tests.ShortCircuit;

/// <summary>How the two servers of a <see cref="LanePair"/> are built (the same for both, but for the lane).</summary>
public sealed class LaneServerOptions
{
    public required ZeroCopyTransportEngine Engine { get; init; }

    /// <summary>The directory the static files come from.</summary>
    public required string ServedRoot { get; init; }

    /// <summary>The content root (not served).</summary>
    public required string ContentRoot { get; init; }

    /// <summary>The static-file options around each server's own provider; by default only the provider.</summary>
    public Func<IFileProvider, StaticFileOptions>? StaticFiles { get; init; }

    /// <summary>More <c>ZeroCopyStaticFiles</c> configuration keys, for both servers.</summary>
    public IReadOnlyDictionary<string, string?> Settings { get; init; } = new Dictionary<string, string?>();

    public Action<KestrelServerOptions>? Kestrel { get; init; }

    /// <summary>Endpoints for both servers; <see cref="LaneEndpoints.Map"/> when null.</summary>
    public Action<WebApplication>? Endpoints { get; init; }

    /// <summary>When set, the server listens on 127.0.0.1:0 with TLS (this certificate) instead of clear text.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? Certificate { get; init; }

    /// <summary>When set, the endpoint's protocols (Kestrel's default for clear text is Http1AndHttp2).</summary>
    public Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols? Protocols { get; init; }

    /// <summary>Settings in code, after the configuration (code wins, as in an application).</summary>
    public Action<ZeroCopyStaticFilesOptions>? Code { get; init; }

    /// <summary>The least log level kept (Information: trace logs of thousands of requests cost more than the requests).</summary>
    public LogLevel MinimumLevel { get; init; } = LogLevel.Information;
}

/// <summary>
/// Kestrel answers a connection's first request itself (some of its behaviour depends on the first
/// bytes of a connection, e.g. HTTP/2 prior knowledge); the lane answers from the second request on.
/// A test that wants the lane to read a request sends this one first on the connection.
/// </summary>
public static class LanePrimer
{
    public const string Request = "GET " + LaneEndpoints.Hello + " HTTP/1.1\r\nHost: localhost\r\n\r\n";

    public static readonly byte[] Bytes = Encoding.ASCII.GetBytes(Request);

    /// <summary>Sends the primer and reads Kestrel's answer (200 "hello", connection kept).</summary>
    public static async Task PrimeAsync(this RawHttp connection)
    {
        await connection.SendAsync(Bytes);
        var answer = await connection.ReadResponseAsync(head: false);
        Assert.True(answer is { Complete: true, Status: 200, Close: false }, "The primer request: " + answer);
    }
}

/// <summary>The endpoints the tests mix with static files: answered by Kestrel and the application, never by the lane.</summary>
public static class LaneEndpoints
{
    public const string Hello = "/api/hello";
    public const string Echo = "/echo";

    /// <summary><c>GET /api/hello</c> answers "hello"; <c>POST /echo</c> answers the body it read, with its length (a malformed body: its status).</summary>
    public static void Map(WebApplication app)
    {
        app.MapGet(Hello, () => "hello");
        app.MapPost(Echo, async (HttpContext context) =>
        {
            using var body = new MemoryStream();
            try
            {
                await context.Request.Body.CopyToAsync(body, context.RequestAborted);
            }
            catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex)
            {
                // A malformed body (the smuggling corpus has many): Kestrel's status, without an
                // application error in the log.
                return Results.StatusCode(ex.StatusCode);
            }
            catch (IOException)
            {
                // Kestrel reports some malformed bodies (a chunk size overflowing) as an IOException.
                return Results.StatusCode(StatusCodes.Status400BadRequest);
            }

            var text = Encoding.Latin1.GetString(body.ToArray());
            return Results.Text(string.Create(CultureInfo.InvariantCulture, $"echo {body.Length}: {text}"));
        });
    }
}

/// <summary>
/// Kestrel with the zero-copy transport on one engine (<see cref="Engines.Use"/>) serving a folder
/// with <c>UseZeroCopyStaticFiles</c>, the short-circuit lane on or off by configuration key, the
/// library's metrics collected.
/// </summary>
public sealed class LaneServer : IAsyncDisposable
{
    public const string LaneKey = "ZeroCopyStaticFiles:ShortCircuit:Enabled";
    public const string LaneStrategy = "short-circuit";

    private readonly PhysicalFileProvider _provider;

    private LaneServer(TestHost host, bool lane, PhysicalFileProvider provider)
    {
        Host = host;
        Lane = lane;
        _provider = provider;
        Metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());
    }

    public TestHost Host { get; }

    public bool Lane { get; }

    public int Port => Host.Port;

    public MetricsCollector Metrics { get; }

    /// <summary>Responses the lane sent (metric <c>zerocopy.responses</c>, strategy <c>short-circuit</c>).</summary>
    public long LaneAnswers => Metrics.Responses(LaneStrategy);

    public static async Task<LaneServer> StartAsync(LaneServerOptions options, bool lane)
    {
        Engines.Require(options.Engine);
        var provider = new PhysicalFileProvider(options.ServedRoot);
        try
        {
            var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
            {
                [LaneKey] = lane ? "true" : "false",
                // Admitted into the hot-file cache on the first request (the default, made explicit).
                ["ZeroCopyStaticFiles:Cache:MinHits"] = "1",
            };
            foreach (var (key, value) in options.Settings)
            {
                settings[key] = value;
            }

            var host = await TestHost.StartAsync(
                HostKind.Kestrel,
                options.ContentRoot,
                builder =>
                {
                    builder.Configuration.AddInMemoryCollection(settings);
                    builder.Services.AddZeroCopyStaticFiles();
                    if (options.Code is { } code)
                    {
                        builder.Services.Configure(code);
                    }

                    Engines.Use(builder, options.Engine);
                    if (options.Kestrel is { } kestrel)
                    {
                        builder.WebHost.ConfigureKestrel(kestrel);
                    }

                    if (options.Certificate is not null || options.Protocols is not null)
                    {
                        builder.WebHost.ConfigureKestrel(o => o.Listen(System.Net.IPAddress.Loopback, 0, listen =>
                        {
                            if (options.Protocols is { } protocols)
                            {
                                listen.Protocols = protocols;
                            }

                            if (options.Certificate is { } certificate)
                            {
                                listen.UseHttps(certificate);
                            }
                        }));
                    }
                },
                app =>
                {
                    app.UseZeroCopyStaticFiles(options.StaticFiles?.Invoke(provider) ?? new StaticFileOptions { FileProvider = provider });
                    (options.Endpoints ?? LaneEndpoints.Map)(app);
                },
                new TestHostOptions { MinimumLevel = options.MinimumLevel, ListenOnLoopback = options.Certificate is null && options.Protocols is null });
            return new LaneServer(host, lane, provider);
        }
        catch
        {
            provider.Dispose();
            throw;
        }
    }

    /// <summary>Log records of the lane and of Kestrel's connection handling, for failure messages.</summary>
    public string ConnectionLog()
        => string.Join('\n', Host.Logs.Records
            .Where(r => r.Category.StartsWith("ZeroCopy.AspNetCore.ShortCircuit", StringComparison.Ordinal) || r.Category.StartsWith("Microsoft.AspNetCore.Server.Kestrel", StringComparison.Ordinal))
            .Select(r => $"  {r.Level} {r.Category} {r.EventId.Name}: {r.Message}"));

    /// <summary>Error-level log records (an exception in the lane or the transport shows here).</summary>
    public IReadOnlyList<string> Errors()
        => [.. Host.Logs.Records.Where(r => r.Level >= LogLevel.Error).Select(r => $"{r.Category} {r.EventId} {r.Message} {r.Exception}")];

    public async ValueTask DisposeAsync()
    {
        Metrics.Dispose();
        try
        {
            await Host.DisposeAsync();
        }
        finally
        {
            _provider.Dispose();
        }
    }
}

/// <summary>Two servers over the same folder with the same settings: the lane on and the lane off.</summary>
public sealed class LanePair : IAsyncDisposable
{
    private LanePair(LaneServer on, LaneServer off)
    {
        On = on;
        Off = off;
    }

    public LaneServer On { get; }

    public LaneServer Off { get; }

    public static async Task<LanePair> StartAsync(LaneServerOptions options)
    {
        var on = await LaneServer.StartAsync(options, lane: true);
        try
        {
            return new LanePair(on, await LaneServer.StartAsync(options, lane: false));
        }
        catch
        {
            await on.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Sends each request (with <c>Connection: close</c> added, which the lane never answers) to
    /// both servers <paramref name="times"/> times, so both have served each file through the
    /// middleware and admitted it into the hot-file cache: afterwards the two differ only in the lane.
    /// </summary>
    public async Task WarmAsync(IEnumerable<(string Target, string[] Headers)> requests, int times = 2)
    {
        foreach (var (target, headers) in requests)
        {
            for (var i = 0; i < times; i++)
            {
                foreach (var server in new[] { On, Off })
                {
                    await using var connection = await RawHttp.ConnectAsync(server.Port);
                    await connection.SendAsync(Wire.Request("GET", target, [.. headers, "Connection: close"]));
                    var answer = await connection.ReadResponseAsync(head: false);
                    Assert.True(answer is { Complete: true }, $"Warm-up GET {target} on the lane-{(server.Lane ? "on" : "off")} server: {answer}");
                }
            }
        }

        Assert.Equal(0, Off.LaneAnswers);
    }

    /// <summary>Error-level logs of both servers.</summary>
    public IReadOnlyList<string> Errors() => [.. On.Errors(), .. Off.Errors()];

    public async ValueTask DisposeAsync()
    {
        try
        {
            await On.DisposeAsync();
        }
        finally
        {
            await Off.DisposeAsync();
        }
    }
}

/// <summary>
/// One request of a comparison: its exact bytes, and whether it is HEAD (its 200 has no body).
/// <see cref="Isolate"/>: sent on a connection of its own. The lane hands the rest of a connection
/// to Kestrel after bytes it cannot read with certainty, so a probe that may be such bytes must not
/// share its connection with the probes after it.
/// </summary>
public sealed record LaneProbe(string Label, byte[] Bytes, bool Head, bool Isolate = false)
{
    public static LaneProbe Of(string label, string request, bool isolate = false)
        => new(label, Encoding.Latin1.GetBytes(request), request.StartsWith("HEAD ", StringComparison.Ordinal), isolate);

    /// <summary>
    /// Whether <paramref name="request"/> may be bytes the lane does not read with certainty: a
    /// request line other than "METHOD plain-target HTTP/1.1", a head over 1 KiB, a byte outside
    /// printable ASCII, CR and LF.
    /// </summary>
    public static bool Doubtful(string request)
    {
        var line = request.Split("\r\n")[0].Split(' ');
        return request.Length > 1024
            || request.Any(c => c is not ('\r' or '\n') and (< ' ' or > '~'))
            || line.Length != 3
            || line[0].Length == 0
            || !line[0].All(char.IsAsciiLetterUpper)
            || line[2] != "HTTP/1.1"
            || !LaneDifferentialTests.PlainTarget(line[1]);
    }

    public override string ToString() => Label + ": " + RawHttp.Printable(Bytes, 300);
}

/// <summary>The answer to one probe (null: the connection ended without one) and how many responses the lane counted meanwhile.</summary>
public sealed record LaneOutcome(LaneProbe Probe, RawAnswer? Answer, long LaneDelta)
{
    public string Masked => Answer is null ? "<no response>" : (Answer.Complete ? string.Empty : "<cut short> ") + Answer.Masked;
}

public static class LaneExchange
{
    /// <summary>
    /// Sends the probes one at a time on a keep-alive connection (a new one after a response that
    /// ends the connection; each connection starts with <see cref="LanePrimer"/>), reads each answer
    /// exactly, and records the lane's count around each: the lane counts a response before its
    /// bytes leave, so the difference is that probe's.
    /// </summary>
    public static async Task<LaneOutcome[]> SequentialAsync(LaneServer server, IReadOnlyList<LaneProbe> probes, TimeSpan? timeout = null)
    {
        var outcomes = new LaneOutcome[probes.Count];
        RawHttp? connection = null;
        try
        {
            for (var i = 0; i < probes.Count; i++)
            {
                if (probes[i].Isolate)
                {
                    await using var own = await RawHttp.ConnectAsync(server.Port);
                    await own.PrimeAsync();
                    var start = server.LaneAnswers;
                    await own.SendAsync(probes[i].Bytes);
                    var reply = await own.ReadResponseAsync(probes[i].Head, timeout ?? RawHttp.DefaultTimeout);
                    outcomes[i] = new LaneOutcome(probes[i], reply, server.LaneAnswers - start);
                    continue;
                }

                if (connection is null)
                {
                    connection = await RawHttp.ConnectAsync(server.Port);
                    await connection.PrimeAsync();
                }

                var before = server.LaneAnswers;
                await connection.SendAsync(probes[i].Bytes);
                var answer = await connection.ReadResponseAsync(probes[i].Head, timeout ?? RawHttp.DefaultTimeout);
                outcomes[i] = new LaneOutcome(probes[i], answer, server.LaneAnswers - before);
                if (answer is null || answer.Close || !answer.Complete || connection.Ended is not null)
                {
                    await connection.DisposeAsync();
                    connection = null;
                }
            }
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
        }

        return outcomes;
    }

    /// <summary>
    /// The probes' answers on both servers (at the same time: the two do not share anything),
    /// and a report of every probe whose answers differ beyond the Date value.
    /// </summary>
    public static async Task<(LaneOutcome[] On, LaneOutcome[] Off, List<string> Differences)> CompareAsync(LanePair pair, IReadOnlyList<LaneProbe> probes)
    {
        var onTask = SequentialAsync(pair.On, probes);
        var offTask = SequentialAsync(pair.Off, probes);
        var on = await onTask;
        var off = await offTask;
        var differences = new List<string>();
        for (var i = 0; i < probes.Count; i++)
        {
            if (!string.Equals(on[i].Masked, off[i].Masked, StringComparison.Ordinal))
            {
                differences.Add(Difference(probes[i], on[i], off[i]));
            }
        }

        return (on, off, differences);
    }

    public static string Difference(LaneProbe probe, LaneOutcome on, LaneOutcome off)
        => $"#{probe.Label} {RawHttp.Printable(probe.Bytes, 300)}\n"
            + $"    lane on  (lane answered: {on.LaneDelta}): {RawHttp.Printable(on.Masked, 600)}\n"
            + $"    lane off: {RawHttp.Printable(off.Masked, 600)}";

    /// <summary>The first <paramref name="max"/> lines of a failure report, with the total.</summary>
    public static string Report(string what, IReadOnlyCollection<string> items, int max = 15)
        => $"{items.Count} {what} (showing {Math.Min(max, items.Count)}):\n" + string.Join("\n", items.Take(max));
}

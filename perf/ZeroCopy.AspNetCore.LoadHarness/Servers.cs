namespace ZeroCopy.AspNetCore.LoadHarness;

internal enum ServerKind
{
    PerfHost,
    Nginx,
}

/// <summary>One server of the comparison.</summary>
/// <param name="Id">Command-line name.</param>
/// <param name="Title">Name in the table.</param>
/// <param name="Kind">PerfHost (stock or ours) or nginx.</param>
/// <param name="HostArguments">PerfHost switches.</param>
/// <param name="RunsPlaintext">
/// The plaintext workload measures the transport, which does not depend on the file mode: it runs
/// on stock, ours Stream (the Sockets engine), ours on each other engine and nginx only.
/// </param>
/// <param name="Strategy">The body strategy this server is meant to measure (the library's metric name), if any.</param>
/// <param name="RunsTls">
/// The HTTPS/1.1 and HTTP/2 workloads: stock, ours as a TLS site would run it (Auto + hot cache: the
/// zero-copy transport cannot send into TLS, the cache and the stream path still serve) and nginx.
/// </param>
/// <param name="DefaultWorkloads">
/// The workloads this server runs when <c>--workloads</c> is not given (null: all it can run), to
/// keep the default run's length; <c>--workloads</c> overrides it.
/// </param>
internal sealed record ServerSpec(string Id, string Title, ServerKind Kind, string[] HostArguments, bool RunsPlaintext, string? Strategy, bool RunsTls = false, IReadOnlyList<string>? DefaultWorkloads = null)
{
    public const string StockId = "stock";
    public const string NginxId = "nginx";

    /// <summary>Passed through to the PerfHost's configuration.</summary>
    private const string ShortCircuitOn = "--ZeroCopyStaticFiles:ShortCircuit:Enabled=true";

    // Ours' rows name their engine: once the library's default engine changes (issue 15), the rows
    // that are not about the event loop must go on measuring the Sockets engine.
    public static readonly IReadOnlyList<ServerSpec> All =
    [
        new(StockId, "stock UseStaticFiles", ServerKind.PerfHost, ["--impl", "stock"], RunsPlaintext: true, Strategy: null, RunsTls: true),
        new("stream", "ours Stream", ServerKind.PerfHost, ["--impl", "zerocopy", "--mode", "Stream", "--engine", "Sockets"], RunsPlaintext: true, Strategy: "stream"),
        new("sendfile", "ours SendFile", ServerKind.PerfHost, ["--impl", "zerocopy", "--mode", "SendFile", "--engine", "Sockets"], RunsPlaintext: false, Strategy: "sendfile"),
        new("splice", "ours Splice", ServerKind.PerfHost, ["--impl", "zerocopy", "--mode", "Splice", "--engine", "Sockets"], RunsPlaintext: false, Strategy: "splice"),
        new("cache", "ours Auto + hot cache", ServerKind.PerfHost, ["--impl", "zerocopy", "--mode", "Auto", "--cache", "on", "--engine", "Sockets"], RunsPlaintext: false, Strategy: "hot-cache", RunsTls: true),
        new("eventloop", "ours Auto + hot cache, EventLoop", ServerKind.PerfHost, ["--impl", "zerocopy", "--mode", "Auto", "--cache", "on", "--engine", "EventLoop"], RunsPlaintext: true, Strategy: "hot-cache"),
        new("eventloop-inline", "ours Auto + hot cache, EventLoop, inline", ServerKind.PerfHost, ["--impl", "zerocopy", "--mode", "Auto", "--cache", "on", "--engine", "EventLoop", "--inline"], RunsPlaintext: true, Strategy: "hot-cache",
            DefaultWorkloads: ["plaintext", "4k", "64m"]),
        // Issue 16: the lane on each engine; plaintext shows what it costs requests it does not take.
        new("shortcircuit", "ours short-circuit", ServerKind.PerfHost, ["--impl", "zerocopy", "--mode", "Auto", "--cache", "on", "--engine", "Sockets", ShortCircuitOn], RunsPlaintext: true, Strategy: "short-circuit",
            DefaultWorkloads: ["plaintext", "4k", "small", "small-cached"]),
        new("shortcircuit-eventloop", "ours short-circuit, EventLoop", ServerKind.PerfHost, ["--impl", "zerocopy", "--mode", "Auto", "--cache", "on", "--engine", "EventLoop", ShortCircuitOn], RunsPlaintext: true, Strategy: "short-circuit",
            DefaultWorkloads: ["plaintext", "4k", "small", "small-cached"]),
        new(NginxId, "nginx", ServerKind.Nginx, [], RunsPlaintext: true, Strategy: null, RunsTls: true),
    ];

    /// <summary>
    /// The rows issue 15's targets compare, per engine of ours: the plaintext row (the transport
    /// alone) and the file row (Auto + hot cache, the full middleware path). On the Sockets engine the
    /// plaintext row is ours Stream, since the file mode does not touch /plaintext.
    /// </summary>
    public static readonly IReadOnlyList<EngineRows> Engines =
    [
        new("Sockets", PlaintextServer: "stream", FileServer: "cache"),
        new("EventLoop", PlaintextServer: "eventloop", FileServer: "eventloop"),
        new("EventLoop, inline", PlaintextServer: "eventloop-inline", FileServer: "eventloop-inline"),
    ];

    public bool IsOurs => Kind == ServerKind.PerfHost && Id != StockId;

    /// <summary>Whether this server runs <paramref name="workload"/>.</summary>
    public bool Runs(Workload workload)
        => (!workload.Plaintext || RunsPlaintext) && (workload.Transport == Transport.Plain || RunsTls);

    /// <summary>Whether this server runs <paramref name="workload"/> in a run that did not name its workloads.</summary>
    public bool RunsByDefault(Workload workload) => Runs(workload) && (DefaultWorkloads is null || DefaultWorkloads.Contains(workload.Id));
}

/// <summary>One engine of ours in the issue 15 summary under the table.</summary>
/// <param name="Engine">Column title.</param>
/// <param name="PlaintextServer">The server id whose plaintext cells stand for this engine.</param>
/// <param name="FileServer">The server id whose 4 KiB and 64 MiB cells stand for this engine.</param>
internal sealed record EngineRows(string Engine, string PlaintextServer, string FileServer);

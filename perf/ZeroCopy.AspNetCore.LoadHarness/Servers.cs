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
/// on stock, ours (Stream) and nginx only.
/// </param>
/// <param name="Strategy">The body strategy this server is meant to measure (the library's metric name), if any.</param>
/// <param name="RunsTls">
/// The HTTPS/1.1 and HTTP/2 workloads: stock, ours as a TLS site would run it (Auto + hot cache: the
/// zero-copy transport cannot send into TLS, the cache and the stream path still serve) and nginx.
/// </param>
internal sealed record ServerSpec(string Id, string Title, ServerKind Kind, string[] HostArguments, bool RunsPlaintext, string? Strategy, bool RunsTls = false)
{
    public const string StockId = "stock";
    public const string NginxId = "nginx";

    public static readonly IReadOnlyList<ServerSpec> All =
    [
        new(StockId, "stock UseStaticFiles", ServerKind.PerfHost, ["--impl", "stock"], RunsPlaintext: true, Strategy: null, RunsTls: true),
        new("stream", "ours Stream", ServerKind.PerfHost, ["--impl", "zerocopy", "--mode", "Stream"], RunsPlaintext: true, Strategy: "stream"),
        new("sendfile", "ours SendFile", ServerKind.PerfHost, ["--impl", "zerocopy", "--mode", "SendFile"], RunsPlaintext: false, Strategy: "sendfile"),
        new("splice", "ours Splice", ServerKind.PerfHost, ["--impl", "zerocopy", "--mode", "Splice"], RunsPlaintext: false, Strategy: "splice"),
        new("cache", "ours Auto + hot cache", ServerKind.PerfHost, ["--impl", "zerocopy", "--mode", "Auto", "--cache", "on"], RunsPlaintext: false, Strategy: "hot-cache", RunsTls: true),
        new(NginxId, "nginx", ServerKind.Nginx, [], RunsPlaintext: true, Strategy: null, RunsTls: true),
    ];

    public bool IsOurs => Kind == ServerKind.PerfHost && Id != StockId;

    /// <summary>Whether this server runs <paramref name="workload"/>.</summary>
    public bool Runs(Workload workload)
        => (!workload.Plaintext || RunsPlaintext) && (workload.Transport == Transport.Plain || RunsTls);
}

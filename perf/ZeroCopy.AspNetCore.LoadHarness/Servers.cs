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
internal sealed record ServerSpec(string Id, string Title, ServerKind Kind, string[] HostArguments, bool RunsPlaintext, string? Strategy)
{
    public const string StockId = "stock";
    public const string NginxId = "nginx";

    public static readonly IReadOnlyList<ServerSpec> All =
    [
        new(StockId, "stock UseStaticFiles", ServerKind.PerfHost, ["--impl", "stock"], RunsPlaintext: true, Strategy: null),
        new("stream", "ours Stream", ServerKind.PerfHost, ["--impl", "zerocopy", "--mode", "Stream"], RunsPlaintext: true, Strategy: "stream"),
        new("sendfile", "ours SendFile", ServerKind.PerfHost, ["--impl", "zerocopy", "--mode", "SendFile"], RunsPlaintext: false, Strategy: "sendfile"),
        new("splice", "ours Splice", ServerKind.PerfHost, ["--impl", "zerocopy", "--mode", "Splice"], RunsPlaintext: false, Strategy: "splice"),
        new("cache", "ours Auto + hot cache", ServerKind.PerfHost, ["--impl", "zerocopy", "--mode", "Auto", "--cache", "on"], RunsPlaintext: false, Strategy: "hot-cache"),
        new(NginxId, "nginx", ServerKind.Nginx, [], RunsPlaintext: true, Strategy: null),
    ];

    public bool IsOurs => Kind == ServerKind.PerfHost && Id != StockId;
}

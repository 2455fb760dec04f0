using System.Globalization;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>One wrk run against one server: one cell of one round.</summary>
internal sealed class Sample
{
    public required string Server { get; init; }
    public required string Workload { get; init; }
    public required int Connections { get; init; }
    public required int Round { get; init; }
    public WrkResult? Wrk { get; init; }
    public double CpuSeconds { get; init; }
    public long PeakRssKiB { get; init; }

    /// <summary>Share of the machine (all cores) used by anything but the server, wrk, the harness and ksoftirqd, in percent.</summary>
    public double OtherCpuPercent { get; init; }

    /// <summary>CPU seconds of the ksoftirqd threads (network work deferred out of the processes' context).</summary>
    public double SoftirqThreadSeconds { get; init; }

    /// <summary>CPU seconds the hypervisor took (steal).</summary>
    public double StealSeconds { get; init; }
    public List<string> Problems { get; init; } = [];

    /// <summary>
    /// Counters during this cell: the library's (ours only: responses by strategy, fallbacks by
    /// reason) and the host's garbage collections (<c>gc.*</c>, stock and ours).
    /// </summary>
    public Dictionary<string, long>? Counters { get; init; }

    /// <summary>Bytes the .NET host allocated per response during the cell (NaN for nginx or when unknown).</summary>
    public double AllocatedBytesPerRequest
        => Counters is { } c && c.TryGetValue("gc.allocated.bytes", out var bytes) && Wrk is { Requests: > 0 }
            ? (double)bytes / Wrk.Requests
            : double.NaN;

    /// <summary>Milliseconds the .NET host was paused for garbage collections during the cell (NaN for nginx or when unknown).</summary>
    public double GcPauseMilliseconds => Counters is { } c && c.TryGetValue("gc.pause.us", out var pause) ? pause / 1000.0 : double.NaN;

    /// <summary>Collections by generation and total pause during the cell, e.g. "12/3/0 41 ms"; "—" without counters.</summary>
    public string GcText => Counters is { } c && c.TryGetValue("gc.gen0", out var gen0)
        ? string.Create(CultureInfo.InvariantCulture, $"{gen0}/{c["gc.gen1"]}/{c["gc.gen2"]} {c.GetValueOrDefault("gc.pause.us") / 1000.0:F0} ms, {AllocatedBytesPerRequest / 1024:F1} KiB/req")
        : "—";

    public bool Failed => Problems.Count > 0 || Wrk is null;

    public double RequestsPerSecond => Wrk!.Requests / Wrk.Seconds;

    /// <summary>Latency percentiles exist only when a response completed.</summary>
    public double P50Microseconds => Wrk!.Requests == 0 ? double.NaN : Wrk.P50Us;
    public double P99Microseconds => Wrk!.Requests == 0 ? double.NaN : Wrk.P99Us;
    public double MegabytesPerSecond => Wrk!.Bytes / Wrk.Seconds / 1e6;
    public double CpuSecondsPerGigabyte => Wrk!.Bytes == 0 ? double.NaN : CpuSeconds / (Wrk.Bytes / 1e9);
    public double CpuMicrosecondsPerRequest => Wrk!.Requests == 0 ? double.NaN : CpuSeconds * 1e6 / Wrk.Requests;

    /// <summary>Errors wrk and load.lua counted (sockets, statuses, lengths).</summary>
    public long ErrorCount => Wrk is null ? 0 : Wrk.SocketErrors + Math.Max(Wrk.ErrStatus, Wrk.BadStatus) + Wrk.BadLength;

    /// <summary>
    /// Everything that makes a run untrustworthy. A run with any problem is reported as FAILED and
    /// makes the harness exit non-zero: a broken server must never produce a flattering number.
    /// </summary>
    public static List<string> Validate(Workload workload, int connections, WrkResult wrk, IReadOnlyDictionary<string, int> headerBytes)
    {
        var problems = new List<string>();
        var inv = CultureInfo.InvariantCulture;
        // A 64 MiB body on 32 connections can take longer than the cell: no completed response is
        // slowness, not an error, when the bytes read fit in the responses still in flight.
        if (wrk.Requests == 0 && workload.Check != CheckMode.Bytes)
        {
            problems.Add("no response completed");
        }

        if (wrk.SocketErrors > 0)
        {
            problems.Add(workload.Transport == Transport.Http2
                ? string.Create(inv, $"h2load: {wrk.ErrRead} requests failed, {wrk.ErrWrite} errored, {wrk.ErrTimeout} timed out")
                : string.Create(inv, $"socket errors: connect {wrk.ErrConnect}, read {wrk.ErrRead}, write {wrk.ErrWrite}, timeout {wrk.ErrTimeout}"));
        }

        var badStatus = Math.Max(wrk.ErrStatus, wrk.BadStatus);
        if (badStatus > 0)
        {
            problems.Add(string.Create(inv, $"{badStatus} responses with a status other than 200"));
        }

        if (wrk.BadLength > 0)
        {
            problems.Add(string.Create(inv, $"{wrk.BadLength} bodies of the wrong length"));
        }

        // wrk reconnects silently when a server closes a connection mid-response. At the end at most
        // one request per connection is in flight, and wrk calls request() once more when it starts
        // (script_verify_request), which load.lua counts too.
        var lost = wrk.Issued - wrk.Requests;
        if (lost > connections + 1)
        {
            problems.Add(string.Create(inv, $"{lost - 1} requests issued but not answered, more than the {connections} in flight at the end (connections closed mid-response?)"));
        }

        if (workload.Check != CheckMode.Bytes && wrk.Checked != wrk.Requests)
        {
            problems.Add(string.Create(inv, $"load.lua checked {wrk.Checked} of {wrk.Requests} responses"));
        }

        if (workload.Transport == Transport.Http2)
        {
            // h2load counts body bytes (DATA frame payloads) apart from HTTP/2's framing and
            // compressed headers: every completed response is exactly one body, and each connection
            // may have one more in flight (-m 1).
            var low = wrk.Requests * workload.BodyLength;
            var high = (wrk.Requests + connections) * workload.BodyLength;
            if (wrk.DataBytes is not { } data || data < low || data > high)
            {
                problems.Add(string.Create(inv, $"{wrk.DataBytes} body bytes for {wrk.Requests} responses of {workload.BodyLength} bytes (expected {low}..{high})"));
            }
        }
        else if (workload.Check != CheckMode.Small)
        {
            // Every response of a single-path workload has the same size: the probe's header size
            // (allowing a few bytes for headers of varying width) plus the body. Bytes of responses
            // still in flight when wrk stopped are counted too, at most one per connection.
            const int Slack = 32;
            if (!headerBytes.TryGetValue(workload.HeaderKey, out var header))
            {
                problems.Add($"no header size measured for {workload.HeaderKey}");
            }
            else
            {
                var size = header + workload.BodyLength;
                var low = wrk.Requests * (size - Slack);
                var high = (wrk.Requests + connections) * (size + Slack);
                if (wrk.Bytes < low || wrk.Bytes > high)
                {
                    problems.Add(string.Create(inv, $"{wrk.Bytes} bytes read for {wrk.Requests} responses of {header}+{workload.BodyLength} bytes (expected {low}..{high})"));
                }
            }
        }

        return problems;
    }
}

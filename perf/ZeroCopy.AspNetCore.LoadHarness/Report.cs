using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>Everything the report is made from.</summary>
internal sealed record ReportContext(
    HarnessOptions Options,
    IReadOnlyList<ServerSpec> Servers,
    IReadOnlyList<Workload> Workloads,
    IReadOnlyList<Sample> Samples,
    RunNotes Notes,
    string Machine,
    string WrkVersion,
    string? NginxVersion,
    TimeSpan HarnessElapsed,
    string? H2loadVersion = null);

/// <summary>
/// The markdown table: medians across rounds per workload, connection count and server, with
/// ratios against stock and nginx taken round by round (each ratio pairs two servers measured
/// minutes apart in the same run) and then the median of those.
/// </summary>
internal static class Report
{
    private static readonly CultureInfo s_inv = CultureInfo.InvariantCulture;
    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    public static string Write(ReportContext context)
    {
        var options = context.Options;
        var builder = new StringBuilder();
        var elapsed = options.StartedAtUnix is { } startedAt
            ? TimeSpan.FromSeconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0 - startedAt)
            : context.HarnessElapsed;
        var nginx = context.NginxVersion is null
            ? "nginx: not available"
            : $"{context.NginxVersion} (2 workers, sendfile on, tcp_nopush on, open_file_cache)";

        Line(builder, $"### Load test, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC{(options.Quick ? " (quick run: smoke test, not for publishing)" : string.Empty)}");
        Line(builder);
        Line(builder, $"- Command: `{options.Command}`");
        Line(builder, $"- Run duration: {(int)elapsed.TotalMinutes} min {elapsed.Seconds} s{(options.StartedAtUnix is null ? " (harness only)" : " (whole command, Release build included)")}");
        Line(builder, $"- Rounds: {options.Rounds} (servers alternate A B C ... per round; medians across rounds); {options.Duration} s of load per cell, 64 MiB {options.BigDuration} s; {options.Warmup} s mixed warm-up after each server start");
        Line(builder, $"- Client: {context.WrkVersion}, {options.Threads} threads, keep-alive, connections {string.Join(" and ", options.Connections)}");
        if (context.Workloads.Any(static w => w.Transport != Transport.Plain))
        {
            Line(builder, $"- TLS cells (stock, ours Auto + hot cache, nginx; the same self-signed P-256 certificate made by openssl; what each client negotiated is in the notes): HTTPS/1.1 with wrk; HTTP/2 with {context.H2loadVersion ?? "h2load (not available)"}, ALPN h2, one stream at a time per connection (-m 1), {options.Threads} threads; its MB/s counts HTTP/2 traffic (frames, compressed headers, bodies)");
        }
        Line(builder, $"- Machine: {context.Machine}. Client and servers share these cores; nothing is pinned. Busy with other processes just before the run: {context.Notes.BackgroundCpuPercent:F0}%");
        Line(builder, $"- Servers: {context.Notes.Runtime ?? ".NET"} ({context.Notes.Gc ?? "?"} GC, Release, Kestrel defaults, log level Warning); {nginx}");
        Line(builder);
        Line(builder, "| Workload | Conns | Server | req/s | ± | MB/s | p50 ms | p99 ms | CPU s/GB | CPU µs/req | Peak RSS MiB | Alloc KiB/req | GC pause ms | Errors | Other CPU | Thrpt × stock | Thrpt × nginx | CPU × stock | CPU × nginx | Bodies sent by |");
        Line(builder, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");

        foreach (var workload in context.Workloads)
        {
            foreach (var connections in options.Connections)
            {
                foreach (var server in context.Servers)
                {
                    var samples = Cell(context, server.Id, workload.Id, connections);
                    if (samples.Count > 0)
                    {
                        Line(builder, Row(context, workload, connections, server, samples));
                    }
                }
            }
        }

        Line(builder);
        Line(builder, "Columns: medians across rounds. **±**: half the range of the throughput across rounds, relative to the median (run-to-run noise on this machine). **MB/s**: bytes wrk read (headers + bodies) per second, 10^6 bytes. **p50/p99**: wrk's latency percentiles (— when no response completed within the cell). **CPU s/GB**: CPU seconds (user + system) of the server's processes (nginx: master + workers), from /proc/PID/stat before and after the run, per 10^9 bytes delivered. **CPU µs/req**: the same CPU per response. **Peak RSS**: VmHWM during the cell (nginx: sum over its processes). **Alloc KiB/req**: managed bytes the .NET host allocated during the cell per response (GC.GetTotalAllocatedBytes; — for nginx). **GC pause ms**: time the .NET host was paused for garbage collections during the cell (GC.GetTotalPauseDuration). **Errors**: socket errors, non-200 statuses and wrong lengths over all rounds; any error fails the run. **Other CPU**: share of the whole machine used meanwhile by anything but the server, wrk, the harness and ksoftirqd (other users of a shared machine); more than a few percent means that cell is disturbed. **Thrpt ×**: throughput ratio (MB/s; plaintext: req/s), higher is better. **CPU ×**: CPU ratio (s/GB; plaintext: µs/req), lower is better. Ratios are the median of per-round ratios; — = the reference itself or not measured. **Bodies sent by**: for ours, the strategies the library's metrics counted during the row's cells, with fallback reasons.");

        WriteEngines(builder, context);

        var strategyNotes = StrategyNotes(context).ToList();
        if (strategyNotes.Count > 0 || context.Notes.Notes.Count > 0 || context.Notes.Warnings.Count > 0 || context.Servers.Any(s => !s.RunsPlaintext || (options.Workloads is null && s.DefaultWorkloads is not null)))
        {
            Line(builder);
            Line(builder, "Notes:");
            var warnings = context.Notes.Warnings.Select(static w => $"{string.Join(", ", w.Value)} logged: {w.Key}");
            foreach (var note in strategyNotes.Concat(context.Notes.Notes).Concat(warnings))
            {
                Line(builder, "- " + note);
            }

            var noPlaintext = context.Servers.Where(static s => !s.RunsPlaintext).Select(static s => s.Title).ToList();
            if (noPlaintext.Count > 0 && context.Workloads.Any(static w => w.Plaintext))
            {
                Line(builder, $"- plaintext runs on stock, ours Stream (the Sockets engine), ours on each other engine and nginx only: {string.Join(", ", noPlaintext)} share the Sockets engine with ours Stream and differ only in how file bodies are sent.");
            }

            if (options.Workloads is null)
            {
                foreach (var server in context.Servers.Where(static s => s.DefaultWorkloads is not null))
                {
                    Line(builder, $"- {server.Title} ran {string.Join(", ", server.DefaultWorkloads!)} only (issue 15's cells, to keep the default run short); `--workloads` runs others on it.");
                }
            }
        }

        if (context.Notes.Failures.Count > 0)
        {
            Line(builder);
            Line(builder, $"**FAILED**: {context.Notes.Failures.Count} problem(s); failed cells show no numbers:");
            foreach (var failure in context.Notes.Failures)
            {
                Line(builder, "- " + failure);
            }
        }

        return builder.ToString();
    }

    public static string Json(ReportContext context) => JsonSerializer.Serialize(
        new
        {
            context.Options.Command,
            context.Options.Rounds,
            context.Options.Duration,
            context.Options.BigDuration,
            context.Options.Connections,
            context.Machine,
            context.WrkVersion,
            context.NginxVersion,
            context.Notes.Runtime,
            context.Notes.Notes,
            context.Notes.Failures,
            context.Notes.Warnings,
            Samples = context.Samples.Select(static s => new
            {
                s.Server,
                s.Workload,
                s.Connections,
                s.Round,
                s.Wrk,
                s.CpuSeconds,
                s.PeakRssKiB,
                s.OtherCpuPercent,
                s.SoftirqThreadSeconds,
                s.StealSeconds,
                s.Counters,
                s.Problems,
            }),
        },
        s_json);

    private static List<Sample> Cell(ReportContext context, string server, string workload, int connections)
        => [.. context.Samples.Where(s => s.Server == server && s.Workload == workload && s.Connections == connections)];

    private static string Row(ReportContext context, Workload workload, int connections, ServerSpec server, List<Sample> samples)
    {
        var head = $"| {workload.Title} | {connections} | {server.Title} |";
        var errors = samples.Sum(static s => s.ErrorCount);
        if (samples.Any(static s => s.Failed))
        {
            return head + $" **FAILED** | | | | | | | | | | {errors.ToString(s_inv)} | | — | — | — | — | |";
        }

        var throughput = samples.Select(s => Throughput(workload, s)).ToList();
        var median = Median(throughput);
        var spread = samples.Count < 2 ? "—" : string.Create(s_inv, $"±{(throughput.Max() - throughput.Min()) / 2 / median * 100:F0}%");
        return head + string.Join(" |", new[]
        {
            string.Create(s_inv, $" {Median(samples.Select(static s => s.RequestsPerSecond)):N0}"),
            " " + spread,
            " " + Megabytes(Median(samples.Select(static s => s.MegabytesPerSecond))),
            " " + Milliseconds(Median(samples.Select(static s => s.P50Microseconds))),
            " " + Milliseconds(Median(samples.Select(static s => s.P99Microseconds))),
            " " + Number(Median(samples.Select(static s => s.CpuSecondsPerGigabyte))),
            " " + Number(Median(samples.Select(static s => s.CpuMicrosecondsPerRequest))),
            string.Create(s_inv, $" {Median(samples.Select(static s => s.PeakRssKiB / 1024.0)):F0}"),
            " " + Number(Median(samples.Select(static s => s.AllocatedBytesPerRequest / 1024))),
            " " + Number(Median(samples.Select(static s => s.GcPauseMilliseconds))),
            " " + errors.ToString(s_inv),
            string.Create(s_inv, $" {Median(samples.Select(static s => s.OtherCpuPercent)):F0}%"),
            " " + Ratio(context, workload, connections, server, ServerSpec.StockId, Throughput),
            " " + Ratio(context, workload, connections, server, ServerSpec.NginxId, Throughput),
            " " + Ratio(context, workload, connections, server, ServerSpec.StockId, Cpu),
            " " + Ratio(context, workload, connections, server, ServerSpec.NginxId, Cpu),
            " " + (workload.Plaintext ? "—" : Bodies(server, samples)),
        }) + " |";
    }

    /// <summary>An issue 15 target: a workload, the server it is measured against, the metric, the bound.</summary>
    private sealed record EngineTarget(string WorkloadId, string Title, string Reference, Func<Workload, Sample, double> Metric, Func<double, string> Format);

    private static readonly EngineTarget[] s_engineTargets =
    [
        new("plaintext", "plaintext req/s × Kestrel's socket transport (stock); target ≥ 1.25×", ServerSpec.StockId, Throughput,
            static v => string.Create(s_inv, $"{v:N0} req/s")),
        new("64m", "64 MiB CPU s/GB × nginx; target ≤ 1.00×", ServerSpec.NginxId, Cpu,
            static v => string.Create(s_inv, $"{v:F3} s/GB")),
        new("4k", "4 KiB hot throughput (MB/s) × nginx; target ≥ 0.90×", ServerSpec.NginxId, Throughput,
            static v => Megabytes(v) + " MB/s"),
    ];

    /// <summary>
    /// Issue 15's benchmark targets per engine of ours, from the same samples as the table: each
    /// cell is the ratio as the table's ratio columns compute it (median of per-round ratios), then
    /// the engine's own median; the reference column is the median of the server compared against.
    /// </summary>
    private static void WriteEngines(StringBuilder builder, ReportContext context)
    {
        var selected = context.Servers.Select(static s => s.Id).ToHashSet(StringComparer.Ordinal);
        var engines = ServerSpec.Engines.Where(e => selected.Contains(e.PlaintextServer) || selected.Contains(e.FileServer)).ToList();
        var targets = s_engineTargets.Where(t => context.Workloads.Any(w => w.Id == t.WorkloadId)).ToList();
        if (engines.Count == 0 || targets.Count == 0)
        {
            return;
        }

        Line(builder);
        Line(builder, "Engines side by side (issue 15's targets; same samples as the table):");
        Line(builder);
        Line(builder, "| Target | Conns | Reference | " + string.Join(" | ", engines.Select(static e => e.Engine)) + " |");
        Line(builder, "|---|---:|---:|" + string.Concat(engines.Select(static _ => "---:|")));
        foreach (var target in targets)
        {
            var workload = context.Workloads.First(w => w.Id == target.WorkloadId);
            foreach (var connections in context.Options.Connections)
            {
                var cells = engines.Select(engine =>
                {
                    var id = workload.Plaintext ? engine.PlaintextServer : engine.FileServer;
                    var server = context.Servers.FirstOrDefault(s => s.Id == id);
                    return server is null ? "—" : EngineCell(context, workload, connections, server, target);
                });
                var reference = Cell(context, target.Reference, workload.Id, connections).Where(static s => !s.Failed).ToList();
                var referenceText = reference.Count == 0 ? "—" : target.Format(Median(reference.Select(s => target.Metric(workload, s))));
                Line(builder, $"| {target.Title} | {connections.ToString(s_inv)} | {referenceText} | {string.Join(" | ", cells)} |");
            }
        }

        Line(builder);
        Line(builder, "Per engine, the `--servers` ids the cells come from: " + string.Join("; ", engines.Select(static e => e.PlaintextServer == e.FileServer
            ? $"{e.Engine}: {e.FileServer}"
            : $"{e.Engine}: {e.PlaintextServer} (plaintext), {e.FileServer} (files)")) + ". — = not measured in this run.");
    }

    private static string EngineCell(ReportContext context, Workload workload, int connections, ServerSpec server, EngineTarget target)
    {
        var samples = Cell(context, server.Id, workload.Id, connections);
        if (samples.Count == 0)
        {
            return "—";
        }

        if (samples.Any(static s => s.Failed))
        {
            return "**FAILED**";
        }

        var ratio = Ratio(context, workload, connections, server, target.Reference, target.Metric);
        return $"{ratio} ({target.Format(Median(samples.Select(s => target.Metric(workload, s))))})";
    }

    private static double Throughput(Workload workload, Sample sample) => workload.Plaintext ? sample.RequestsPerSecond : sample.MegabytesPerSecond;

    private static double Cpu(Workload workload, Sample sample) => workload.Plaintext ? sample.CpuMicrosecondsPerRequest : sample.CpuSecondsPerGigabyte;

    /// <summary>Median over the rounds where both servers have a good sample of value(server) / value(reference).</summary>
    private static string Ratio(ReportContext context, Workload workload, int connections, ServerSpec server, string reference, Func<Workload, Sample, double> metric)
    {
        if (server.Id == reference)
        {
            return "—";
        }

        var mine = Cell(context, server.Id, workload.Id, connections);
        var theirs = Cell(context, reference, workload.Id, connections);
        var ratios = new List<double>();
        foreach (var sample in mine)
        {
            var other = theirs.FirstOrDefault(t => t.Round == sample.Round);
            if (other is null || other.Failed || sample.Failed)
            {
                continue;
            }

            var denominator = metric(workload, other);
            if (denominator > 0 && !double.IsNaN(denominator))
            {
                ratios.Add(metric(workload, sample) / denominator);
            }
        }

        return ratios.Count == 0 ? "—" : string.Create(s_inv, $"{Median(ratios):F2}×");
    }

    private const string ResponsesPrefix = "zerocopy.responses|zerocopy.strategy=";
    private const string FallbackPrefix = "zerocopy.fallbacks|zerocopy.fallback.reason=";
    private const string CacheCopyPrefix = "zerocopy.cache.copies|zerocopy.fallback.reason=";

    /// <summary>The library's counters summed over samples.</summary>
    private static Dictionary<string, long> Sum(IEnumerable<Sample> samples)
    {
        var sum = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var counters in samples.Select(static s => s.Counters).OfType<Dictionary<string, long>>())
        {
            foreach (var (key, value) in counters)
            {
                sum[key] = sum.GetValueOrDefault(key) + value;
            }
        }

        return sum;
    }

    private static Dictionary<string, long> ByPrefix(Dictionary<string, long> counters, string prefix)
        => counters.Where(c => c.Key.StartsWith(prefix, StringComparison.Ordinal) && c.Value > 0)
            .ToDictionary(c => c.Key[prefix.Length..], static c => c.Value, StringComparer.Ordinal);

    /// <summary>"sendfile 100%", "stream 100% (fallback: no-transport)": what really produced the bodies of a row.</summary>
    private static string Bodies(ServerSpec server, List<Sample> samples)
    {
        if (!server.IsOurs)
        {
            return server.Kind == ServerKind.Nginx ? "nginx (sendfile on)" : "stock";
        }

        var counters = Sum(samples);
        var strategies = ByPrefix(counters, ResponsesPrefix);
        var total = strategies.Values.Sum();
        if (total == 0)
        {
            return samples.Any(static s => s.Counters is null) ? "unknown" : "no file response";
        }

        var text = string.Join(", ", strategies.OrderByDescending(static p => p.Value).Select(p => string.Create(s_inv, $"{p.Key} {100.0 * p.Value / total:F0}%")));
        var fallbacks = ByPrefix(counters, FallbackPrefix);
        if (fallbacks.Count > 0)
        {
            text += " (fallback: " + string.Join(", ", fallbacks.OrderByDescending(static p => p.Value).Select(static p => p.Key)) + ")";
        }

        // Hot-cache bodies of MinZeroCopyBytes or more written from memory instead of sendfile (TLS, HTTP/2).
        var copies = ByPrefix(counters, CacheCopyPrefix);
        return copies.Count == 0 ? text : text + " (cache copied: " + string.Join(", ", copies.OrderByDescending(static p => p.Value).Select(static p => p.Key)) + ")";
    }

    private static IEnumerable<string> StrategyNotes(ReportContext context)
    {
        foreach (var server in context.Servers.Where(static s => s.IsOurs && s.Strategy is not null))
        {
            var samples = context.Samples.Where(s => s.Server == server.Id && !s.Failed).ToList();
            if (samples.Count > 0 && samples.All(static s => s.Counters is not null)
                && ByPrefix(Sum(samples), ResponsesPrefix).GetValueOrDefault(server.Strategy!) == 0)
            {
                yield return $"**{server.Title}: no response in any cell used {server.Strategy}; its rows measure the fallback (see Bodies sent by), not {server.Strategy}.**";
            }
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Where(static v => !double.IsNaN(v)).Order().ToList();
        if (sorted.Count == 0)
        {
            return double.NaN;
        }

        var middle = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    private static string Milliseconds(double microseconds) => Number(microseconds / 1000);

    private static string Megabytes(double value) => value < 10 ? value.ToString("F1", s_inv) : value.ToString("N0", s_inv);

    private static string Number(double value) => double.IsNaN(value) ? "—" : value switch
    {
        < 10 => value.ToString("F2", s_inv),
        < 100 => value.ToString("F1", s_inv),
        _ => value.ToString("N0", s_inv),
    };

    private static void Line(StringBuilder builder, string text = "") => builder.Append(text).Append('\n');
}

using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>
/// Runs h2load (nghttp2) for the HTTP/2 workloads and maps its summary onto <see cref="WrkResult"/>:
/// one stream at a time per connection (<c>-m 1</c>), so the concurrency is the connection count,
/// as for wrk; latency percentiles come from its per-request log (<c>--log-file</c>).
/// </summary>
internal sealed partial class H2loadRunner
{
    private readonly string _h2load;
    private readonly int _threads;
    private readonly string _logFolder;

    public H2loadRunner(string h2load, int threads, string logFolder)
    {
        _h2load = h2load;
        _threads = threads;
        _logFolder = logFolder;
    }

    /// <summary>The TLS version and cipher h2load reported for its last run ("TLSv1.3 TLS_AES_128_GCM_SHA256").</summary>
    public string? LastNegotiated { get; private set; }

    /// <summary>h2load's version ("h2load nghttp2/1.52.0"), or null when it cannot run.</summary>
    public static string? Version(string h2load)
        => ChildProcesses.Query(h2load, "--version") is (0, var text) ? text.Trim() : null;

    public async Task<WrkResult> RunAsync(string url, int connections, int seconds, CancellationToken cancel)
    {
        var log = Path.Combine(_logFolder, $"h2load-{Guid.NewGuid():N}.tsv");
        var startInfo = new ProcessStartInfo(_h2load)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[]
        {
            "-t", Math.Min(_threads, connections).ToString(CultureInfo.InvariantCulture),
            "-c", connections.ToString(CultureInfo.InvariantCulture),
            "-m", "1",
            "-D", seconds.ToString(CultureInfo.InvariantCulture),
            "--log-file", log,
            url,
        })
        {
            startInfo.ArgumentList.Add(argument);
        }

        try
        {
            var (exitCode, text, error) = await ChildProcesses.RunAsync(startInfo, "h2load", seconds, cancel);
            if (exitCode != 0)
            {
                throw new HarnessException($"h2load failed (exit {exitCode}): {error.Trim()} {text.Trim()}");
            }

            if (!text.Contains("Application protocol: h2", StringComparison.Ordinal))
            {
                throw new HarnessException($"h2load did not negotiate HTTP/2: {text.Trim()}");
            }

            LastNegotiated = string.Join(' ', text.Split('\n')
                .Where(static l => l.StartsWith("TLS Protocol: ", StringComparison.Ordinal) || l.StartsWith("Cipher: ", StringComparison.Ordinal))
                .Select(static l => l[(l.IndexOf(':', StringComparison.Ordinal) + 2)..].Trim()));

            return Parse(text, Latencies(log));
        }
        finally
        {
            File.Delete(log);
        }
    }

    [GeneratedRegex(@"finished in (?<seconds>[0-9.]+)s")]
    private static partial Regex Finished();

    [GeneratedRegex(@"requests: (?<total>\d+) total, (?<started>\d+) started, (?<done>\d+) done, (?<succeeded>\d+) succeeded, (?<failed>\d+) failed, (?<errored>\d+) errored, (?<timeout>\d+) timeout")]
    private static partial Regex Requests();

    [GeneratedRegex(@"status codes: (?<s2>\d+) 2xx, (?<s3>\d+) 3xx, (?<s4>\d+) 4xx, (?<s5>\d+) 5xx")]
    private static partial Regex Statuses();

    [GeneratedRegex(@"traffic: .*?\((?<total>\d+)\) total, .*?\((?<headers>\d+)\) headers .*?, .*?\((?<data>\d+)\) data")]
    private static partial Regex Traffic();

    private static WrkResult Parse(string text, long[] latencies)
    {
        static long Number(Match match, string group) => long.Parse(match.Groups[group].Value, NumberStyles.None, CultureInfo.InvariantCulture);
        Match Required(Regex regex) => regex.Match(text) is { Success: true } match
            ? match
            : throw new HarnessException($"h2load's summary has no '{regex}' line: {text.Trim()}");

        var seconds = double.Parse(Required(Finished()).Groups["seconds"].Value, NumberStyles.Float, CultureInfo.InvariantCulture);
        var requests = Required(Requests());
        var statuses = Required(Statuses());
        var traffic = Required(Traffic());
        long Percentile(double p) => latencies.Length == 0 ? 0 : latencies[Math.Min(latencies.Length - 1, (int)Math.Ceiling(p / 100 * latencies.Length) - 1)];
        var other = Number(statuses, "s3") + Number(statuses, "s4") + Number(statuses, "s5");
        return new WrkResult(
            Requests: Number(statuses, "s2"),
            Bytes: Number(traffic, "total"),
            DurationUs: (long)(seconds * 1e6),
            Issued: Number(requests, "started"),
            Checked: Number(requests, "done"),
            BadStatus: other,
            BadLength: 0,
            ErrConnect: 0,
            ErrRead: Number(requests, "failed"),
            ErrWrite: Number(requests, "errored"),
            ErrTimeout: Number(requests, "timeout"),
            ErrStatus: other,
            P50Us: Percentile(50),
            P90Us: Percentile(90),
            P99Us: Percentile(99),
            MaxUs: latencies.Length == 0 ? 0 : latencies[^1],
            DataBytes: Number(traffic, "data"));
    }

    /// <summary>The per-request durations (µs, third column of h2load's log), sorted.</summary>
    private static long[] Latencies(string log)
    {
        if (!File.Exists(log))
        {
            return [];
        }

        var values = new List<long>();
        foreach (var line in File.ReadLines(log))
        {
            var fields = line.Split('\t');
            if (fields.Length >= 3 && long.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var duration))
            {
                values.Add(duration);
            }
        }

        values.Sort();
        return [.. values];
    }
}

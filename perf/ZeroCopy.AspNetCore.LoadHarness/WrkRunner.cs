using System.Diagnostics;
using System.Globalization;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>What load.lua's done() reported for one wrk run (or h2load, mapped to the same fields).</summary>
/// <param name="DataBytes">h2load only: body bytes (DATA frame payloads) received; <see cref="Bytes"/> is then all HTTP/2 traffic.</param>
internal sealed record WrkResult(
    long Requests,
    long Bytes,
    long DurationUs,
    long Issued,
    long Checked,
    long BadStatus,
    long BadLength,
    long ErrConnect,
    long ErrRead,
    long ErrWrite,
    long ErrTimeout,
    long ErrStatus,
    long P50Us,
    long P90Us,
    long P99Us,
    long MaxUs,
    long? DataBytes = null)
{
    public long SocketErrors => ErrConnect + ErrRead + ErrWrite + ErrTimeout;

    public double Seconds => DurationUs / 1e6;
}

/// <summary>Runs wrk with load.lua and parses its result line.</summary>
internal sealed class WrkRunner
{
    private readonly string _wrk;
    private readonly string _script;
    private readonly int _threads;

    public WrkRunner(string wrk, string script, int threads)
    {
        _wrk = wrk;
        _script = script;
        _threads = threads;
    }

    /// <summary>wrk's version line, or null when it cannot run.</summary>
    public static string? Version(string wrk)
    {
        // wrk -v prints its version and usage and exits with 1.
        var line = ChildProcesses.Query(wrk, "-v")?.Output.Split('\n').FirstOrDefault(static l => l.StartsWith("wrk ", StringComparison.Ordinal));
        return line?.Split(' ', 3) is { Length: >= 2 } parts ? parts[0] + " " + parts[1] : null;
    }

    /// <param name="pathPrefix">For the small and warmup modes: prepended to every generated small-file path (the warm-up's mount).</param>
    public async Task<WrkResult> RunAsync(string url, int connections, int seconds, string mode, string value, CancellationToken cancel, string? pathPrefix = null)
    {
        var startInfo = new ProcessStartInfo(_wrk)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[]
        {
            "-t", _threads.ToString(CultureInfo.InvariantCulture),
            "-c", connections.ToString(CultureInfo.InvariantCulture),
            "-d", seconds.ToString(CultureInfo.InvariantCulture) + "s",
            // A 64 MiB body on 32 connections takes seconds; wrk's default 2 s would count those as timeouts.
            "--timeout", "60s",
            "-s", _script,
            url, "--", mode, value,
        })
        {
            startInfo.ArgumentList.Add(argument);
        }

        if (pathPrefix is not null)
        {
            startInfo.ArgumentList.Add(pathPrefix);
        }

        var (exitCode, text, error) = await ChildProcesses.RunAsync(startInfo, "wrk", seconds, cancel);
        var line = text.Split('\n').FirstOrDefault(static l => l.StartsWith("ZCPERF ", StringComparison.Ordinal));
        if (exitCode != 0 || line is null)
        {
            throw new HarnessException($"wrk failed (exit {exitCode}): {error.Trim()} {text.Trim()}");
        }

        return Parse(line);
    }

    private static WrkResult Parse(string line)
    {
        var values = line["ZCPERF ".Length..]
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(static pair => pair.Split('=', 2))
            .ToDictionary(static pair => pair[0], static pair => long.Parse(pair[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture), StringComparer.Ordinal);
        return new WrkResult(
            values["requests"], values["bytes"], values["duration_us"], values["issued"], values["checked"],
            values["bad_status"], values["bad_length"], values["err_connect"], values["err_read"], values["err_write"],
            values["err_timeout"], values["err_status"], values["p50_us"], values["p90_us"], values["p99_us"], values["max_us"]);
    }
}

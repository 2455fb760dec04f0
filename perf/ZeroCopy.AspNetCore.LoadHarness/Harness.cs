using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>
/// The run: generate the file set, then for each round start every server in turn (A B C ... A B C
/// ...), verify its responses, warm it up, and run every workload at every connection count.
/// </summary>
internal sealed class Harness
{
    private readonly HarnessOptions _options;
    private readonly WrkRunner _wrk;
    private H2loadRunner? _h2load;
    private TlsFiles? _tls;
    private readonly List<Sample> _samples = [];
    private readonly RunNotes _notes = new();
    private readonly HashSet<string> _broken = new(StringComparer.Ordinal);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private static readonly HttpClient s_counterClient = new() { Timeout = TimeSpan.FromSeconds(10) };

    public Harness(HarnessOptions options)
    {
        _options = options;
        _wrk = new WrkRunner(options.Wrk, Path.Combine(AppContext.BaseDirectory, "lua", "load.lua"), options.Threads);
    }

    public async Task<int> RunAsync(CancellationToken cancel)
    {
        var started = Stopwatch.StartNew();
        var wrkVersion = WrkRunner.Version(_options.Wrk)
            ?? throw new HarnessException($"wrk not found ('{_options.Wrk}'); perf/run.sh installs it with apt-get.");
        var servers = SelectServers(out var nginxVersion);
        var workloads = Select(Workload.All, _options.Workloads, static w => w.Id, "workload");
        string? h2loadVersion = null;
        if (workloads.Any(static w => w.Transport != Transport.Plain))
        {
            if (_options.TlsCertificate is { } certificate && _options.TlsKey is { } key)
            {
                _tls = new TlsFiles(certificate, key);
            }
            else
            {
                _notes.Add("no certificate was given (--tls-cert, --tls-key; perf/run.sh makes them with openssl): the HTTPS and HTTP/2 cells fail.");
            }

            if (workloads.Any(static w => w.Transport == Transport.Http2))
            {
                h2loadVersion = H2loadRunner.Version(_options.H2load);
                if (h2loadVersion is null)
                {
                    _notes.Add($"h2load is not available ('{_options.H2load}' does not run; perf/run.sh installs Debian's nghttp2-client): the HTTP/2 cells fail.");
                }
            }
        }

        if (_options.InjectFault is { } fault)
        {
            _notes.Add($"**Self-test: faults of kind '{fault}' were injected into the .NET servers; this run must fail.**");
        }

        if (_options.HostArguments.Count > 0)
        {
            _notes.Add($"ours ran with extra arguments: `{string.Join(' ', _options.HostArguments)}`.");
        }

        var work = Directory.CreateTempSubdirectory("zcperf-");
        if (!_options.KeepFiles)
        {
            // perf/run.sh deletes a recorded folder on exit, whatever ended the harness.
            ChildProcesses.RecordWorkFolder(work.FullName);
        }

        // nginx's workers run as nobody and must reach the files.
        File.SetUnixFileMode(work.FullName, FileSet.DirectoryMode);
        try
        {
            Console.WriteLine($"work folder: {work.FullName}");
            var generate = Stopwatch.StartNew();
            var files = FileSet.Generate(Path.Combine(work.FullName, "root"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"generated {files.Fixed.Count + files.Small.Count} files, {files.TotalBytes / 1048576.0:F0} MiB, in {generate.Elapsed.TotalSeconds:F1} s"));
            Directory.CreateDirectory(Path.Combine(work.FullName, "logs"));
            _h2load = new H2loadRunner(_options.H2load, _options.Threads, Path.Combine(work.FullName, "logs"));
            await MeasureBackgroundAsync(cancel);

            for (var round = 1; round <= _options.Rounds; round++)
            {
                foreach (var server in servers)
                {
                    cancel.ThrowIfCancellationRequested();
                    await RunServerAsync(server, round, workloads, files, work.FullName, cancel);
                }
            }

            var context = new ReportContext(
                _options, servers, workloads, _samples, _notes, MachineInfo.Describe(),
                wrkVersion, nginxVersion, started.Elapsed, h2loadVersion);
            var report = Report.Write(context);
            Console.WriteLine();
            Console.WriteLine(report);
            if (_options.Out is { } output)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(output)!);
                await File.WriteAllTextAsync(output, report, cancel);
                await File.WriteAllTextAsync(output + ".json", Report.Json(context), cancel);
                Console.WriteLine($"written: {output} (raw samples: {output}.json)");
            }

            if (_notes.Failures.Count > 0)
            {
                await Console.Error.WriteLineAsync($"\nFAILED: {_notes.Failures.Count} problem(s); the numbers of failed cells are not reported:");
                foreach (var failure in _notes.Failures)
                {
                    await Console.Error.WriteLineAsync("  - " + failure);
                }

                return 1;
            }

            return 0;
        }
        finally
        {
            ChildProcesses.StopAll();
            if (_options.KeepFiles)
            {
                Console.WriteLine($"kept: {work.FullName}");
            }
            else
            {
                work.Delete(recursive: true);
            }
        }
    }

    /// <summary>How busy the machine is with nothing of ours running: a shared machine makes every number noisy.</summary>
    private async Task MeasureBackgroundAsync(CancellationToken cancel)
    {
        var before = SystemCpu.Read();
        var clock = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(2), cancel);
        var after = SystemCpu.Read();
        var busy = after.BusySeconds - before.BusySeconds - (after.HarnessSeconds - before.HarnessSeconds);
        _notes.BackgroundCpuPercent = Math.Max(0, busy) / (clock.Elapsed.TotalSeconds * Environment.ProcessorCount) * 100;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"machine busy before the run (other processes): {_notes.BackgroundCpuPercent:F0}%"));
        if (_notes.BackgroundCpuPercent > 10)
        {
            var warning = string.Create(CultureInfo.InvariantCulture,
                $"Other processes used {_notes.BackgroundCpuPercent:F0}% of the machine just before the run: the numbers are disturbed (see the Other CPU column); rerun on a quiet machine before publishing.");
            Console.WriteLine("warning: " + warning);
            _notes.Add(warning);
        }
    }

    private List<ServerSpec> SelectServers(out string? nginxVersion)
    {
        var servers = Select(ServerSpec.All, _options.Servers, static s => s.Id, "server");
        nginxVersion = NginxServer.Version(_options.Nginx);
        if (nginxVersion is null && servers.Any(static s => s.Kind == ServerKind.Nginx))
        {
            _notes.Add($"nginx is not available ('{_options.Nginx}' does not run; perf/run.sh could not install it): the table has no nginx rows and no ratios against nginx.");
            servers.RemoveAll(static s => s.Kind == ServerKind.Nginx);
        }

        return servers;
    }

    private static List<T> Select<T>(IReadOnlyList<T> all, IReadOnlyList<string>? wanted, Func<T, string> id, string what)
    {
        if (wanted is null)
        {
            return [.. all];
        }

        foreach (var name in wanted)
        {
            if (!all.Any(item => id(item) == name))
            {
                throw new ArgumentException($"unknown {what} '{name}' (known: {string.Join(", ", all.Select(id))}).");
            }
        }

        return [.. all.Where(item => wanted.Contains(id(item)))];
    }

    private async Task RunServerAsync(ServerSpec spec, int round, List<Workload> workloads, FileSet files, string work, CancellationToken cancel)
    {
        var cells = workloads.Where(w => _options.Workloads is null ? spec.RunsByDefault(w) : spec.Runs(w)).ToList();
        if (_broken.Contains(spec.Id))
        {
            return;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{_clock.Elapsed:m\\:ss}] round {round}: {spec.Title}"));
        RunningServer server;
        try
        {
            server = spec.Kind == ServerKind.Nginx
                ? await NginxServer.StartAsync(spec, _options.Nginx, files.Root, Path.Combine(work, "nginx"), _tls, cancel)
                : await PerfHostServer.StartAsync(spec, _options.PerfHost!, files.Root, Path.Combine(work, "logs", $"{spec.Id}-{round}.log"), _options.InjectFault, _options.HostArguments, _tls, cancel);
        }
        catch (HarnessException ex)
        {
            FailServer(spec, round, cells, "did not start: " + ex.Message);
            return;
        }

        using (server)
        {
            if (server is PerfHostServer host)
            {
                _notes.Runtime ??= host.Ready.GetValueOrDefault("runtime")?.Replace('-', ' ');
                _notes.Gc ??= host.Ready.GetValueOrDefault("gc");
                if (host.Ready.GetValueOrDefault("engine") is { } engine and not ("default" or "Sockets" or "kestrel-sockets")
                    && host.Ready.GetValueOrDefault("engine-option") == "missing")
                {
                    _notes.Add($"**{spec.Title}: this build of the library has no engine switch (ZeroCopyTransportOptions.Engine), so the row ran the Sockets engine, not {engine}.**");
                }
            }

            Dictionary<string, int> headerBytes;
            try
            {
                headerBytes = await ResponseVerifier.VerifyAsync(server, files, cells, _options.SmallSample, round * 7919 + spec.Id.Length, _tls, cancel);
            }
            catch (Exception ex) when (!cancel.IsCancellationRequested
                && ex is HarnessException or IOException or System.Net.Sockets.SocketException or TimeoutException or OperationCanceledException
                    or HttpRequestException or System.Security.Authentication.AuthenticationException)
            {
                FailServer(spec, round, cells, "wrong response before load: " + ex.Message);
                return;
            }

            if (server.TlsNegotiated is { } negotiated)
            {
                _notes.Negotiated(spec.Title, "HTTPS/1.1", negotiated);
            }

            if (_options.Warmup > 0 && await WarmUpAsync(server, cancel) is { } warmupProblem)
            {
                FailServer(spec, round, cells, warmupProblem);
                return;
            }

            var fromThisStart = new List<Sample>();
            foreach (var workload in cells)
            {
                if (_options.Warmup > 0 && await WarmUpWorkloadAsync(server, workload, cancel) is { } workloadProblem)
                {
                    // As a failed warm-up: this and every later cell of this start are failed.
                    FailServer(spec, round, cells.SkipWhile(c => c != workload).ToList(), workloadProblem);
                    return;
                }

                foreach (var connections in _options.Connections)
                {
                    var sample = await MeasureAsync(server, workload, connections, round, headerBytes, cancel);
                    fromThisStart.Add(sample);
                    _samples.Add(sample);
                    Progress(sample);
                    if (workload.Transport == Transport.Http2 && _h2load!.LastNegotiated is { Length: > 0 } h2)
                    {
                        _notes.Negotiated(spec.Title, "HTTP/2 (h2load)", h2);
                    }
                }
            }

            var (errors, warnings) = server.ReadLog();
            foreach (var warning in warnings)
            {
                _notes.Warn(spec.Title, warning);
            }

            if (errors.Count > 0)
            {
                var reason = $"the server logged {errors.Count} error(s), first: {errors[0]}";
                foreach (var sample in fromThisStart)
                {
                    sample.Problems.Add(reason);
                }

                _notes.Fail($"{spec.Title}, round {round}: {reason}");
            }
        }
    }

    /// <summary>Mixed load so the JIT has tiered up the hot paths before anything is measured; null when it went well.</summary>
    private async Task<string?> WarmUpAsync(RunningServer server, CancellationToken cancel)
    {
        try
        {
            var warm = await _wrk.RunAsync(server.BaseUrl + "/", 16, _options.Warmup, "warmup", server.Spec.RunsPlaintext ? "1" : "0", cancel, WarmRoot);
            return warm.SocketErrors > 0 || warm.BadStatus > 0 || warm.ErrStatus > 0
                ? string.Create(CultureInfo.InvariantCulture, $"errors during warm-up: {warm.SocketErrors} socket errors, {Math.Max(warm.BadStatus, warm.ErrStatus)} bad statuses")
                : null;
        }
        catch (HarnessException ex)
        {
            return "warm-up: " + ex.Message;
        }
    }

    /// <summary>
    /// One second of the workload's own traffic through the <c>/warmroot</c> mount just before it is
    /// measured, so the code paths of exactly this workload are tiered up (the hot-file cells run
    /// only cache hits, for instance, which leaves the miss path of the many-small-files cell cold)
    /// while the measured mount's cache does not see the files. Null when it went well.
    /// </summary>
    private async Task<string?> WarmUpWorkloadAsync(RunningServer server, Workload workload, CancellationToken cancel)
    {
        if (workload.Transport == Transport.Http2)
        {
            try
            {
                var h2 = await _h2load!.RunAsync(server.TlsBaseUrl + WarmRoot + workload.UrlPath, 4, 1, cancel);
                return h2.SocketErrors > 0 || h2.BadStatus > 0
                    ? string.Create(CultureInfo.InvariantCulture, $"errors during the {workload.Id} warm-up: {h2.SocketErrors} failed requests, {h2.BadStatus} bad statuses")
                    : null;
            }
            catch (HarnessException ex)
            {
                return $"{workload.Id} warm-up: {ex.Message}";
            }
        }

        var (url, mode, value, prefix) = workload.Check switch
        {
            _ when workload.Plaintext => (server.BaseUrl + workload.UrlPath, "fixed", workload.BodyLength.ToString(CultureInfo.InvariantCulture), null),
            CheckMode.Small => (server.BaseUrl + "/", "small", FileSet.SmallCount.ToString(CultureInfo.InvariantCulture), workload.WarmMeasured ? null : WarmRoot),
            CheckMode.Fixed => (server.BaseUrlFor(workload) + WarmRoot + workload.UrlPath, "fixed", workload.BodyLength.ToString(CultureInfo.InvariantCulture), null),
            _ => (server.BaseUrlFor(workload) + WarmRoot + workload.UrlPath, "bytes", workload.BodyLength.ToString(CultureInfo.InvariantCulture), (string?)null),
        };
        try
        {
            var warm = await _wrk.RunAsync(url, 4, workload.WarmMeasured ? Workload.CachedWarmupSeconds : 1, mode, value, cancel, prefix);
            return warm.SocketErrors > 0 || warm.BadStatus > 0 || warm.ErrStatus > 0 || warm.BadLength > 0
                ? string.Create(CultureInfo.InvariantCulture, $"errors during the {workload.Id} warm-up: {warm.SocketErrors} socket errors, {Math.Max(warm.BadStatus, warm.ErrStatus)} bad statuses, {warm.BadLength} wrong lengths")
                : null;
        }
        catch (HarnessException ex)
        {
            return $"{workload.Id} warm-up: {ex.Message}";
        }
    }

    /// <summary>
    /// The second mount of the root that only warm-ups ask for: nginx's configuration takes it from
    /// here, the perf host (another process) declares the same path.
    /// </summary>
    internal const string WarmRoot = "/warmroot";

    private async Task<Sample> MeasureAsync(RunningServer server, Workload workload, int connections, int round, IReadOnlyDictionary<string, int> headerBytes, CancellationToken cancel)
    {
        var problems = new List<string>();
        var countersBefore = await FetchCountersAsync(server, cancel);
        var pids = server.Pids();
        var rssReset = pids.All(ProcStats.ResetPeakRss);
        if (!rssReset)
        {
            _notes.Add("peak RSS could not be reset per cell (/proc/PID/clear_refs): it is the peak since the server started.");
        }

        var cpuBefore = pids.Sum(pid => ProcStats.CpuSeconds(pid) ?? 0);
        var systemBefore = SystemCpu.Read();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var seconds = workload.Big ? _options.BigDuration : _options.Duration;
        var (mode, value) = workload.Check switch
        {
            CheckMode.Fixed => ("fixed", workload.BodyLength.ToString(CultureInfo.InvariantCulture)),
            CheckMode.Small => ("small", FileSet.SmallCount.ToString(CultureInfo.InvariantCulture)),
            _ => ("bytes", workload.BodyLength.ToString(CultureInfo.InvariantCulture)),
        };

        WrkResult? result = null;
        try
        {
            result = workload.Transport == Transport.Http2
                ? await _h2load!.RunAsync(server.TlsBaseUrl + workload.UrlPath, connections, seconds, cancel)
                : await _wrk.RunAsync(server.BaseUrlFor(workload) + workload.UrlPath, connections, seconds, mode, value, cancel);
        }
        catch (HarnessException ex)
        {
            problems.Add(ex.Message);
        }

        var cpuAfter = pids.Sum(pid => ProcStats.CpuSeconds(pid) ?? double.NaN);
        var systemAfter = SystemCpu.Read();
        var elapsed = clock.Elapsed.TotalSeconds;
        var softirqThreads = systemAfter.SoftirqThreadSeconds - systemBefore.SoftirqThreadSeconds;
        var other = systemAfter.BusySeconds - systemBefore.BusySeconds
            - (cpuAfter - cpuBefore) - (systemAfter.HarnessSeconds - systemBefore.HarnessSeconds) - softirqThreads;
        var peak = pids.Sum(pid => ProcStats.PeakRssKiB(pid) ?? 0);
        if (server.HasExited || pids.Any(pid => !ProcStats.IsAlive(pid)) || !server.Pids().SequenceEqual(pids))
        {
            problems.Add("a server process exited during the run");
        }

        if (result is not null)
        {
            problems.AddRange(Sample.Validate(workload, connections, result, headerBytes));
        }

        var countersAfter = await FetchCountersAsync(server, cancel);

        var sample = new Sample
        {
            Server = server.Spec.Id,
            Workload = workload.Id,
            Connections = connections,
            Round = round,
            Wrk = result,
            CpuSeconds = cpuAfter - cpuBefore,
            PeakRssKiB = peak,
            OtherCpuPercent = Math.Max(0, other) / (elapsed * Environment.ProcessorCount) * 100,
            SoftirqThreadSeconds = softirqThreads,
            StealSeconds = systemAfter.StealSeconds - systemBefore.StealSeconds,
            Problems = problems,
            Counters = countersBefore is null || countersAfter is null
                ? null
                : countersAfter.ToDictionary(static c => c.Key, c => c.Value - countersBefore.GetValueOrDefault(c.Key), StringComparer.Ordinal),
        };
        foreach (var problem in problems)
        {
            _notes.Fail($"{server.Spec.Title}, {workload.Title}, {connections} connections, round {round}: {problem}");
        }

        return sample;
    }

    private void FailServer(ServerSpec spec, int round, List<Workload> cells, string reason)
    {
        _notes.Fail($"{spec.Title}, round {round}: {reason}");
        _broken.Add(spec.Id);
        Console.WriteLine($"[round {round}] {spec.Title}: FAILED: {reason} (not measured again in this run)");
        foreach (var workload in cells)
        {
            foreach (var connections in _options.Connections)
            {
                _samples.Add(new Sample { Server = spec.Id, Workload = workload.Id, Connections = connections, Round = round, Problems = [reason] });
            }
        }
    }

    /// <summary>
    /// The .NET hosts' counters (the library's, ours only; GC figures, both), read outside the
    /// measured window, or null.
    /// </summary>
    private async Task<Dictionary<string, long>?> FetchCountersAsync(RunningServer server, CancellationToken cancel)
    {
        if (server.Spec.Kind != ServerKind.PerfHost)
        {
            return null;
        }

        try
        {
            return await s_counterClient.GetFromJsonAsync<Dictionary<string, long>>(server.BaseUrl + "/_perf/counters", cancel);
        }
        catch (Exception ex) when (!cancel.IsCancellationRequested && ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
        {
            _notes.Add($"{server.Spec.Title}: strategy counters unavailable ({ex.Message}).");
            return null;
        }
    }

    private void Progress(Sample sample)
    {
        var inv = CultureInfo.InvariantCulture;
        if (sample.Failed || sample.Wrk is null)
        {
            Console.WriteLine($"  {sample.Workload,-9} c={sample.Connections,-3} FAILED: {string.Join("; ", sample.Problems)}");
            return;
        }

        Console.WriteLine(string.Create(inv,
            $"  {sample.Workload,-9} c={sample.Connections,-3} {sample.RequestsPerSecond,10:N0} req/s {sample.MegabytesPerSecond,8:N0} MB/s  p99 {sample.Wrk.P99Us / 1000.0,8:F2} ms  cpu {sample.CpuSeconds,5:F2} s {sample.CpuSecondsPerGigabyte,7:F2} s/GB  rss {sample.PeakRssKiB / 1024.0,4:F0} MiB  other {sample.OtherCpuPercent,3:F0}%  gc {sample.GcText}"));
    }
}

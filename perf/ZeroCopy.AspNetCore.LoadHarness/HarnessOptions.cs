using System.Globalization;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>The harness's command line. perf/run.sh passes its own arguments through.</summary>
internal sealed class HarnessOptions
{
    public const string Usage = """
        usage: perf/run.sh [--quick] [--out FILE] [options]

          --quick                 1 round, 1 s per cell, no warm-up: a smoke run, not for publishing
          --out FILE              markdown table (default perf/results/perf-<utc time>.md); raw samples go to FILE.json
          --rounds N              rounds of A B C ... (default 3; medians are taken across rounds)
          --duration S            seconds of load per cell (default 2)
          --big-duration S        seconds of load per 64 MiB cell (default 2)
          --warmup S              seconds of mixed load after each server start (default 3; 0 = none)
          --connections LIST      wrk connection counts (default 4,32)
          --servers LIST          any of stock,stream,sendfile,splice,cache,eventloop,eventloop-inline,
                                  shortcircuit,shortcircuit-eventloop,nginx (default all); eventloop and
                                  eventloop-inline are ours Auto + hot cache on the EventLoop engine (inline:
                                  Kestrel's UnsafePreferInlineScheduling); without --workloads
                                  eventloop-inline runs only plaintext,4k,64m; shortcircuit* are ours Auto +
                                  hot cache with the short-circuit lane on the Sockets / EventLoop engine,
                                  without --workloads they run only plaintext,4k,small,small-cached
          --workloads LIST        any of 4k,64k,1m,64m,small,small-cached,plaintext,4k-tls,64m-tls,4k-h2 (default
                                  all; small-cached: the small files after a 4 s warm-up on the measured mount);
                                  the last three (HTTPS/1.1 with wrk, HTTP/2 with h2load) run on stock, cache and nginx
          --threads N             wrk threads (default 2)
          --small-sample N        small files checked by SHA-256 per server start (default 100)
          --keep-files            keep the temporary file set and the server logs
          --host-arg ARG          extra argument for ours (repeatable), e.g. --host-arg --ZeroCopyStaticFiles:MinZeroCopyBytes=0
                                  or --host-arg --event-loops=1
          --inject-fault KIND     self-test: the .NET servers break every 97th response after the first 1000
                                  (status: 500, length: wrong body length, abort: connection closed);
                                  the run must then fail with exit code 1
          --perfhost PATH         the built ZeroCopy.AspNetCore.PerfHost (run.sh passes it)
          --wrk PATH, --nginx PATH, --h2load PATH  tools (default: from PATH)
          --tls-cert PEM --tls-key PEM  certificate and key of every server's HTTPS port (run.sh makes them with openssl)
        """;

    public bool Quick { get; private set; }
    public string? Out { get; private set; }
    public int Rounds { get; private set; } = 3;
    public int Duration { get; private set; } = 2;
    public int BigDuration { get; private set; } = 2;
    public int Warmup { get; private set; } = 3;
    public IReadOnlyList<int> Connections { get; private set; } = [4, 32];
    public IReadOnlyList<string>? Servers { get; private set; }
    public IReadOnlyList<string>? Workloads { get; private set; }
    public int Threads { get; private set; } = 2;
    public int SmallSample { get; private set; } = 100;
    public bool KeepFiles { get; private set; }
    public string? PerfHost { get; private set; }
    public string Wrk { get; private set; } = "wrk";
    public string Nginx { get; private set; } = "nginx";
    public string H2load { get; private set; } = "h2load";
    public string? TlsCertificate { get; private set; }
    public string? TlsKey { get; private set; }
    public string? PidFile { get; private set; }
    public string? InjectFault { get; private set; }
    public IReadOnlyList<string> HostArguments => _hostArguments;
    private readonly List<string> _hostArguments = [];
    public string Command { get; private set; } = "perf/run.sh";

    /// <summary>When perf/run.sh started (Unix seconds), so the reported duration includes the build.</summary>
    public double? StartedAtUnix { get; private set; }

    public static HarnessOptions Parse(string[] args)
    {
        var options = new HarnessOptions();
        int? rounds = null, duration = null, bigDuration = null, warmup = null;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{arg} needs a value.");
            switch (arg)
            {
                case "--quick":
                    options.Quick = true;
                    break;
                case "--out":
                    options.Out = Path.GetFullPath(Next());
                    break;
                case "--rounds":
                    rounds = PositiveInt(arg, Next());
                    break;
                case "--duration":
                    duration = PositiveInt(arg, Next());
                    break;
                case "--big-duration":
                    bigDuration = PositiveInt(arg, Next());
                    break;
                case "--warmup":
                    warmup = int.Parse(Next(), NumberStyles.None, CultureInfo.InvariantCulture);
                    break;
                case "--connections":
                    options.Connections = [.. List(Next()).Select(c => PositiveInt(arg, c))];
                    break;
                case "--servers":
                    options.Servers = List(Next());
                    break;
                case "--workloads":
                    options.Workloads = List(Next());
                    break;
                case "--threads":
                    options.Threads = PositiveInt(arg, Next());
                    break;
                case "--small-sample":
                    options.SmallSample = int.Parse(Next(), NumberStyles.None, CultureInfo.InvariantCulture);
                    break;
                case "--host-arg":
                    options._hostArguments.Add(Next());
                    break;
                case "--inject-fault":
                    options.InjectFault = Next();
                    break;
                case "--keep-files":
                    options.KeepFiles = true;
                    break;
                case "--perfhost":
                    options.PerfHost = Path.GetFullPath(Next());
                    break;
                case "--wrk":
                    options.Wrk = Next();
                    break;
                case "--nginx":
                    options.Nginx = Next();
                    break;
                case "--h2load":
                    options.H2load = Next();
                    break;
                case "--tls-cert":
                    options.TlsCertificate = Path.GetFullPath(Next());
                    break;
                case "--tls-key":
                    options.TlsKey = Path.GetFullPath(Next());
                    break;
                case "--pid-file":
                    options.PidFile = Path.GetFullPath(Next());
                    break;
                case "--command":
                    options.Command = Next();
                    break;
                case "--started-at":
                    options.StartedAtUnix = double.Parse(Next(), NumberStyles.Float, CultureInfo.InvariantCulture);
                    break;
                default:
                    throw new ArgumentException($"unknown argument '{arg}'.");
            }
        }

        options.Rounds = rounds ?? (options.Quick ? 1 : 3);
        options.Duration = duration ?? (options.Quick ? 1 : 2);
        options.BigDuration = bigDuration ?? (options.Quick ? 1 : 2);
        options.Warmup = warmup ?? (options.Quick ? 0 : 3);
        if (options.PerfHost is null)
        {
            throw new ArgumentException("--perfhost is required (perf/run.sh passes it).");
        }

        if ((options.TlsCertificate is null) != (options.TlsKey is null))
        {
            throw new ArgumentException("--tls-cert and --tls-key go together.");
        }

        if (options.Connections.Any(c => c < options.Threads))
        {
            throw new ArgumentException("every connection count must be at least --threads (wrk's rule).");
        }

        return options;
    }

    private static string[] List(string value)
        => value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static int PositiveInt(string name, string value)
        => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) && parsed > 0
            ? parsed
            : throw new ArgumentException($"{name}: '{value}' is not a positive whole number.");
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>One traced syscall: name, argument text and result.</summary>
public sealed record TracedCall(string Pid, string Name, string Args, long Result)
{
    public string[] Arguments => Args.Split(',', StringSplitOptions.TrimEntries);

    public int Fd(int index = 0)
        => int.TryParse(Arguments.ElementAtOrDefault(index), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var fd) ? fd : -1;
}

/// <summary>
/// The sample server (the README's server) run under strace, for tests that prove what the kernel
/// was asked to do. Skips the test where strace is missing or ptrace is not allowed.
/// </summary>
public sealed partial class StraceServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private StraceServer(Process process, string traceFile, Uri address)
    {
        _process = process;
        TraceFile = traceFile;
        Address = address;
    }

    public string TraceFile { get; }

    public Uri Address { get; }

    public string Output => string.Join('\n', _output);

    [GeneratedRegex(@"listening on (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningLine();

    [GeneratedRegex(@"^(?<pid>\d+)\s+(?:(?<name>\w+)\((?<args>.*?)(?: <unfinished \.\.\.>|\) += (?<result>-?\d+).*)|<\.\.\. (?<rname>\w+) resumed>(?<rargs>.*?)\) += (?<rresult>-?\d+).*)$")]
    private static partial Regex TraceLine();

    /// <summary>Starts the server on <paramref name="root"/> under strace, tracing <paramref name="syscalls"/>.</summary>
    public static async Task<StraceServer> StartAsync(string root, string traceFile, string syscalls, params string[] serverArguments)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Linux only.");

        if (!StraceWorks(out var why))
        {
            Assert.Skip("strace cannot trace here: " + why);
        }

        var serverDll = Path.Combine(Repository.Root, "src", "ZeroCopy.AspNetCore.Server", "bin", Repository.Configuration, "net10.0", "ZeroCopy.AspNetCore.Server.dll");
        var process = Process.Start(new ProcessStartInfo("strace",
        [
            "-f", "--seccomp-bpf", "-qq", "-o", traceFile, "-e", "trace=" + syscalls,
            "dotnet", serverDll, "--root", root, "--urls", "http://127.0.0.1:0", .. serverArguments,
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var server = new StraceServer(process, traceFile, new Uri("http://127.0.0.1"));
        try
        {
            var address = await server.WaitForAddressAsync().WaitAsync(TimeSpan.FromSeconds(120), TestContext.Current.CancellationToken);
            return new StraceServer(process, traceFile, new Uri(address));
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>The calls of the trace, with interrupted calls joined.</summary>
    public IEnumerable<TracedCall> Calls()
    {
        var pending = new Dictionary<string, (string Name, string Args)>();
        foreach (var line in File.ReadLines(TraceFile))
        {
            var match = TraceLine().Match(line);
            if (!match.Success)
            {
                continue;
            }

            var pid = match.Groups["pid"].Value;
            if (match.Groups["rname"].Success)
            {
                if (pending.Remove(pid, out var first))
                {
                    yield return new TracedCall(pid, first.Name, first.Args + match.Groups["rargs"].Value, long.Parse(match.Groups["rresult"].Value, System.Globalization.CultureInfo.InvariantCulture));
                }
            }
            else if (!match.Groups["result"].Success)
            {
                pending[pid] = (match.Groups["name"].Value, match.Groups["args"].Value);
            }
            else
            {
                yield return new TracedCall(pid, match.Groups["name"].Value, match.Groups["args"].Value, long.Parse(match.Groups["result"].Value, System.Globalization.CultureInfo.InvariantCulture));
            }
        }
    }

    /// <summary>Stops the server so the trace is complete.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }

    private async Task<string> WaitForAddressAsync()
    {
        _ = Task.Run(async () =>
        {
            while (await _process.StandardError.ReadLineAsync() is { } line)
            {
                _output.Enqueue(line);
            }
        });
        while (await _process.StandardOutput.ReadLineAsync() is { } line)
        {
            _output.Enqueue(line);
            var match = ListeningLine().Match(line);
            if (match.Success)
            {
                _ = Task.Run(async () =>
                {
                    while (await _process.StandardOutput.ReadLineAsync() is { } more)
                    {
                        _output.Enqueue(more);
                    }
                });
                return match.Groups[1].Value;
            }
        }

        throw new InvalidOperationException("The server exited before it listened: " + Output);
    }

    private static bool StraceWorks(out string why)
    {
        try
        {
            using var probe = Process.Start(new ProcessStartInfo("strace", ["-f", "-qq", "-o", "/dev/null", "true"])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            });
            if (probe is null || !probe.WaitForExit(30_000))
            {
                why = "strace did not finish";
                return false;
            }

            why = probe.StandardError.ReadToEnd().Trim();
            return probe.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            why = "strace is not installed (" + ex.Message + ")";
            return false;
        }
    }
}

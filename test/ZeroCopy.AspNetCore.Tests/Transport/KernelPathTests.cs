using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using ZeroCopy.AspNetCore.Tests.Infrastructure;

namespace ZeroCopy.AspNetCore.Tests.Transport;

/// <summary>
/// Proof that file bytes take the kernel path: the server runs under strace, and the descriptors of
/// the served file see sendfile/splice and never read/pread64.
/// </summary>
public sealed partial class KernelPathTests : IDisposable
{
    private readonly TempDirectory _root = new("zc-strace");

    public void Dispose() => _root.Dispose();

    [GeneratedRegex(@"listening on (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningLine();

    // "123 name(args) = result" or the two halves of an interrupted call.
    [GeneratedRegex(@"^(?<pid>\d+)\s+(?:(?<name>\w+)\((?<args>.*?)(?: <unfinished \.\.\.>|\) += (?<result>-?\d+).*)|<\.\.\. (?<rname>\w+) resumed>(?<rargs>.*?)\) += (?<rresult>-?\d+).*)$")]
    private static partial Regex TraceLine();

    [Theory]
    [InlineData("SendFile", "sendfile")]
    [InlineData("Splice", "splice")]
    public async Task The_file_is_sent_with_the_kernel_call_and_never_read(string mode, string syscall)
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("Linux only.");
        }

        if (!StraceWorks(out var why))
        {
            Assert.Skip("strace cannot trace here: " + why);
        }

        var ct = TestContext.Current.CancellationToken;
        var file = _root.WriteRandom("big.bin", 4 << 20, seed: 21);
        var trace = _root.Combine("trace.log");
        var serverDll = Path.Combine(Repository.Root, "src", "ZeroCopy.AspNetCore.Server", "bin", Repository.Configuration, "net10.0", "ZeroCopy.AspNetCore.Server.dll");
        using var process = Process.Start(new ProcessStartInfo("strace",
        [
            "-f", "--seccomp-bpf", "-qq", "-o", trace,
            "-e", "trace=openat,openat2,close,sendfile,splice,read,pread64",
            "dotnet", serverDll,
            "--root", _root.Path,
            "--urls", "http://127.0.0.1:0",
            "--ZeroCopyStaticFiles:Mode=" + mode,
            "--ZeroCopyStaticFiles:MinZeroCopyBytes=0",
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = new ConcurrentQueue<string>();
        try
        {
            var address = await WaitForAddressAsync(process, output).WaitAsync(TimeSpan.FromSeconds(120), ct);
            using var client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(60) };
            var body = await client.GetByteArrayAsync("/big.bin", ct);
            Assert.Equal(SHA256.HashData(File.ReadAllBytes(file)), SHA256.HashData(body));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(30), ct);
        }

        var (kernelCalls, reads, opens) = Analyse(File.ReadLines(trace), "big.bin");
        Assert.True(opens > 0, "the file was never opened: " + string.Join('\n', output));
        Assert.True(kernelCalls.GetValueOrDefault(syscall) > 0, $"no {syscall} on the file's descriptors; calls seen: {string.Join(", ", kernelCalls)}");
        Assert.Empty(reads);
    }

    /// <summary>Follows the descriptors of <paramref name="fileName"/> through the trace.</summary>
    private static (Dictionary<string, int> KernelCalls, List<string> Reads, int Opens) Analyse(IEnumerable<string> lines, string fileName)
    {
        var fileDescriptors = new HashSet<int>();
        var pending = new Dictionary<string, (string Name, string Args)>();
        var kernelCalls = new Dictionary<string, int>();
        var reads = new List<string>();
        var opens = 0;
        foreach (var line in lines)
        {
            var match = TraceLine().Match(line);
            if (!match.Success)
            {
                continue;
            }

            var pid = match.Groups["pid"].Value;
            string name, args;
            string? result;
            if (match.Groups["rname"].Success)
            {
                if (!pending.Remove(pid, out var first))
                {
                    continue;
                }

                (name, args, result) = (first.Name, first.Args + match.Groups["rargs"].Value, match.Groups["rresult"].Value);
            }
            else if (!match.Groups["result"].Success)
            {
                pending[pid] = (match.Groups["name"].Value, match.Groups["args"].Value);
                continue;
            }
            else
            {
                (name, args, result) = (match.Groups["name"].Value, match.Groups["args"].Value, match.Groups["result"].Value);
            }

            var firstArg = args.Split(',')[0].Trim();
            var fd = int.TryParse(firstArg, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) ? parsed : -1;
            var secondArg = args.Split(',').ElementAtOrDefault(1)?.Trim();
            switch (name)
            {
                case "openat" or "openat2":
                    var opened = int.Parse(result!, CultureInfo.InvariantCulture);
                    var reopen = Regex.Match(args, "\"/proc/self/fd/(\\d+)\"");
                    if (opened >= 0 && (args.Contains('"' + fileName + '"', StringComparison.Ordinal)
                        || args.Contains("/" + fileName + '"', StringComparison.Ordinal)
                        || (reopen.Success && fileDescriptors.Contains(int.Parse(reopen.Groups[1].Value, CultureInfo.InvariantCulture)))))
                    {
                        fileDescriptors.Add(opened);
                        opens++;
                    }

                    break;
                case "close":
                    fileDescriptors.Remove(fd);
                    break;
                case "sendfile":
                    if (int.TryParse(secondArg, NumberStyles.Integer, CultureInfo.InvariantCulture, out var input) && fileDescriptors.Contains(input))
                    {
                        kernelCalls["sendfile"] = kernelCalls.GetValueOrDefault("sendfile") + 1;
                    }

                    break;
                case "splice":
                    if (fileDescriptors.Contains(fd))
                    {
                        kernelCalls["splice"] = kernelCalls.GetValueOrDefault("splice") + 1;
                    }

                    break;
                case "read" or "pread64":
                    if (fileDescriptors.Contains(fd))
                    {
                        reads.Add(line);
                    }

                    break;
            }
        }

        return (kernelCalls, reads, opens);
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

    private static async Task<string> WaitForAddressAsync(Process process, ConcurrentQueue<string> output)
    {
        _ = Task.Run(async () =>
        {
            while (await process.StandardError.ReadLineAsync() is { } line)
            {
                output.Enqueue(line);
            }
        });
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            output.Enqueue(line);
            var match = ListeningLine().Match(line);
            if (match.Success)
            {
                _ = process.StandardOutput.ReadToEndAsync();
                return match.Groups[1].Value;
            }
        }

        throw new InvalidOperationException("The server exited before it listened: " + string.Join('\n', output));
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace ZeroCopy.AspNetCore.Tests.Adversarial.Faults;

/// <summary>
/// Case 6 (shutdown): the sample server, a real process, receives SIGTERM (<c>kill -TERM</c>)
/// with 100 large downloads in flight — 60 stalled clients (small receive buffer, not reading: the
/// body waits on a full socket, so graceful shutdown cannot finish them) and 40 clients reading at
/// full speed — and must exit within the host's shutdown timeout + 1 s, with exit code 0, every
/// client connection ended (no client left hanging).
/// </summary>
/// <remarks>
/// The shutdown timeout comes from configuration: the generic host reads the
/// <c>shutdownTimeoutSeconds</c> key of its configuration into <c>HostOptions.ShutdownTimeout</c>,
/// and the server passes its command line to the host, so <c>--shutdownTimeoutSeconds=3</c> sets it.
/// The measured time runs from the SIGTERM to the process's exit.
/// </remarks>
[Collection(SerialTests.Name)]
public sealed partial class ShutdownTests : IDisposable
{
    private const int ShutdownTimeoutSeconds = 3;
    private const int Stalled = 60;
    private const int Active = 40;
    private readonly TempDirectory _root = new("zc-sigterm");

    public ShutdownTests() => FaultHosts.RequireLinux();

    public void Dispose() => _root.Dispose();

    [GeneratedRegex(@"listening on (http://127\.0\.0\.1:(\d+))")]
    private static partial Regex ListeningLine();

    public static TheoryData<ZeroCopyTransportEngine, string> Modes => Engines.Cross("SendFile", "Splice", "Stream");

    [Theory]
    [MemberData(nameof(Modes))]
    public async Task Sigterm_with_100_large_downloads_in_flight_exits_within_the_shutdown_timeout_plus_1_s(ZeroCopyTransportEngine engine, string mode)
    {
        Engines.Require(engine);
        var ct = TestContext.Current.CancellationToken;
        _root.WriteRandom("big.bin", 64L << 20, seed: 61);
        var serverDll = Path.Combine(Repository.Root, "src", "ZeroCopy.AspNetCore.Server", "bin", Repository.Configuration, "net10.0", "ZeroCopy.AspNetCore.Server.dll");
        Assert.True(File.Exists(serverDll), $"{serverDll} was not built");

        using var process = Process.Start(new ProcessStartInfo("dotnet",
        [
            serverDll, "--root", _root.Path, "--urls", "http://127.0.0.1:0",
            $"--shutdownTimeoutSeconds={ShutdownTimeoutSeconds}",
            Engines.Argument(engine),
            $"--ZeroCopyStaticFiles:Mode={mode}",
            "--ZeroCopyStaticFiles:Cache:Enabled=false",
            "--ZeroCopyStaticFiles:MinZeroCopyBytes=0",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information",
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _root.Path,
        })!;
        var output = new ConcurrentQueue<string>();
        var clients = new List<WireClient>();
        var readers = new List<Task<string>>();
        try
        {
            var port = await ServerOutput.WaitForPortAsync(process, output, ListeningLine(), portGroup: 2).WaitAsync(TimeSpan.FromSeconds(60), ct);

            // All connections at once; the stalled ones take a little of the body and stop reading
            // (the server then blocks on a full socket), the others read on at full speed.
            clients.AddRange(await Task.WhenAll(Enumerable.Range(0, Stalled + Active).Select(i => WireClient.ConnectAsync(
                port, receiveBuffer: i < Stalled ? 16 * 1024 : 0, bufferSize: i < Stalled ? 16 * 1024 : 1 << 20))));
            var lengths = await Task.WhenAll(clients.Select(async (client, i) =>
            {
                await client.SendAsync(Wire.Get("/big.bin"));
                var head = await client.ReadHeadAsync(TimeSpan.FromSeconds(30));
                Assert.Equal(200, head.Status);
                if (i < Stalled)
                {
                    var read = await client.ReadBodyAsync(head.ContentLength, null, TimeSpan.FromSeconds(30), stopAt: 64 * 1024);
                    Assert.Equal(BodyEnd.Stopped, read.End);
                }

                return head.ContentLength;
            })).WaitAsync(TimeSpan.FromSeconds(60), ct);
            readers.AddRange(clients.Skip(Stalled).Select((client, i) => ReadUntilClosedAsync(client, lengths[Stalled + i], ct)));

            // Every download is mid-body when the signal arrives.
            Assert.DoesNotContain(readers, r => r.IsCompleted);
            var stopwatch = Stopwatch.StartNew();
            using (var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))!)
            {
                await kill.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(10), ct);
                Assert.Equal(0, kill.ExitCode);
            }

            var exited = await Task.Run(() => process.WaitForExit(TimeSpan.FromSeconds(ShutdownTimeoutSeconds + 15)), ct);
            var elapsed = stopwatch.Elapsed;

            // Every client sees its connection end (the process is gone; nobody hangs).
            var stalledEnds = await Task.WhenAll(clients.Take(Stalled).Select(c => c.WaitForEndAsync(TimeSpan.FromSeconds(10))));
            var activeEnds = await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(30), ct);
            Figures.Report(
                $"SIGTERM with {Stalled + Active} 64 MiB downloads in flight ({Stalled} stalled, {Active} reading), Mode {mode}, {engine} engine, shutdownTimeoutSeconds={ShutdownTimeoutSeconds}",
                exited
                    ? $"exited after {Figures.Seconds(elapsed)} with code {process.ExitCode}; stalled clients: {Summarize(stalledEnds.Select(e => e.ToString()))}; reading clients: {Summarize(activeEnds)}"
                    : $"NOT exited after {Figures.Seconds(elapsed)}");
            Assert.True(exited, $"the server did not exit within {ShutdownTimeoutSeconds + 15} s of SIGTERM:\n" + string.Join('\n', output));
            Assert.True(elapsed <= TimeSpan.FromSeconds(ShutdownTimeoutSeconds + 1), $"exit took {elapsed} (timeout {ShutdownTimeoutSeconds} s + 1 s):\n" + string.Join('\n', output));
            Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}:\n" + string.Join('\n', output));
            Assert.DoesNotContain(BodyEnd.Hang, stalledEnds);
            Assert.DoesNotContain(activeEnds, e => e.StartsWith("Hang", StringComparison.Ordinal));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(TimeSpan.FromSeconds(30));
            }

            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    private static string Summarize(IEnumerable<string> ends)
        => string.Join(", ", ends.GroupBy(e => e).OrderByDescending(g => g.Count()).Select(g => $"{g.Count()} {g.Key}"));

    /// <summary>Downloads on one connection until the server ends it; how it ended (completed downloads count).</summary>
    private static async Task<string> ReadUntilClosedAsync(WireClient client, long length, CancellationToken ct)
    {
        var completed = 0;
        while (true)
        {
            var read = await client.ReadBodyAsync(length, null, TimeSpan.FromSeconds(20));
            if (read.End != BodyEnd.Complete)
            {
                return $"{read.End} after {completed} complete downloads";
            }

            completed++;
            try
            {
                await client.SendAsync(Wire.Get("/big.bin"));
                var head = await client.ReadHeadAsync(TimeSpan.FromSeconds(20));
                length = head.ContentLength;
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
            {
                return $"Closed between requests after {completed} complete downloads";
            }
            catch (TimeoutException)
            {
                return $"Hang waiting for a response after {completed} complete downloads";
            }
        }
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace ZeroCopy.AspNetCore.Tests.Transport.EventLoop;

/// <summary>
/// Issue 15, item 5: 10,000 concurrent idle keep-alive connections (each served one request) beside
/// load on 32 other connections, on the EventLoop engine. No request fails, no idle connection is
/// dropped, the managed heap an idle connection costs is bounded, and after the clients leave the
/// process's descriptors and Kestrel's connection count are back at the baseline.
/// </summary>
/// <remarks>
/// <para>
/// The idle clients live in a bash child (<c>exec {fd}&lt;&gt;/dev/tcp/...</c>, builtins only): with both ends
/// of 10,000 connections in this process it would need 20,000+ descriptors, above the common hard
/// limit of 20,000 (this machine's), and the clients' objects would be counted as the server's
/// memory. This process holds the server's side only, so its heap and descriptors are the server's.
/// </para>
/// <para>
/// Serial: the heap and descriptor figures are this process's, which parallel tests would move.
/// </para>
/// </remarks>
[Collection(SerialTests.Name)]
public sealed class IdleConnectionTests
{
    private const int IdleConnections = 10_000;
    private const int LoadConnections = 32;

    // Bound on the managed heap per idle connection after a full GC: Kestrel's objects for a
    // keep-alive HTTP/1.1 connection plus the engine's (the connection, two empty pipes, the
    // socket), and no memory-pool block: an idle connection receives into the pool only when epoll
    // reports data. 12 KiB fails if one 4 KiB block stayed rented per idle connection on top of
    // what the test measures without one (figure in the commit that set it).
    private const long MaxManagedBytesPerIdle = 12 * 1024;

    private static readonly TimeSpan s_load = TimeSpan.FromSeconds(3);

    // $1 port, $2 descriptor limit, $3 connections. Each connection sends one request and reads its
    // whole response (status line, headers, the empty line; a 204 has no body) so that the exit
    // closes every socket with FIN, not RST (unread data would make it RST). No `read -t`: bash
    // waits with select(2), which aborts on a descriptor above FD_SETSIZE (1024); the test bounds
    // the wait instead and kills the child.
    private const string ClientScript = """
        set -u
        ulimit -n "$2" || { echo "FAILED ulimit -n $2"; exit 1; }
        for ((i = 0; i < $3; i++)); do
          exec {fd}<>"/dev/tcp/127.0.0.1/$1" || { echo "FAILED connect $i"; exit 1; }
          printf 'GET /idle HTTP/1.1\r\nHost: localhost\r\n\r\n' >&"$fd" || { echo "FAILED send $i"; exit 1; }
          IFS= read -r -u "$fd" status || { echo "FAILED no response on connection $i"; exit 1; }
          [[ $status == $'HTTP/1.1 204 No Content\r' ]] || { echo "FAILED status on connection $i: $status"; exit 1; }
          while true; do
            IFS= read -r -u "$fd" line || { echo "FAILED head cut short on connection $i"; exit 1; }
            [[ $line == $'\r' ]] && break
          done
        done
        echo "OPENED $3"
        read -r _ || true
        """;

    [Fact]
    public async Task Ten_thousand_idle_keep_alive_connections_beside_load_cost_bounded_memory_and_leave_no_descriptor()
    {
        Engines.Require(ZeroCopyTransportEngine.EventLoop);
        var ct = TestContext.Current.CancellationToken;
        var total = Stopwatch.StartNew();

        var (soft, hard) = Posix.OpenFileLimit();
        var needed = (ulong)(Posix.AllDescriptorCount() + IdleConnections + (2 * LoadConnections) + 1024);
        Assert.SkipWhen(
            hard < needed,
            $"RLIMIT_NOFILE's hard limit is {hard}: this test needs {needed} descriptors (10,000 server sockets plus the process's own). Raise it (ulimit -Hn, LimitNOFILE=) to run it.");
        if (soft < needed)
        {
            Posix.SetOpenFileSoftLimit(hard);
        }

        try
        {
            await RunAsync(total, ct);
        }
        finally
        {
            if (soft < needed)
            {
                Posix.SetOpenFileSoftLimit(soft);
            }
        }
    }

    private static async Task RunAsync(Stopwatch total, CancellationToken ct)
    {
        await using var host = await TestHost.StartAsync(
            HostKind.Kestrel,
            contentRoot: null,
            builder =>
            {
                builder.Services.AddZeroCopyStaticFiles();
                Engines.Use(builder, ZeroCopyTransportEngine.EventLoop);
            },
            app => app.Run(context =>
            {
                if (context.Request.Path == "/idle")
                {
                    context.Response.StatusCode = StatusCodes.Status204NoContent;
                    return Task.CompletedTask;
                }

                return context.Response.WriteAsync("hello", context.RequestAborted);
            }),
            // The collector keeps every record: Debug lines for 10,000 connections would be counted as their memory.
            new TestHostOptions { MinimumLevel = LogLevel.Warning });
        using var active = new ActiveConnections(host.Services.GetRequiredService<IMeterFactory>());

        var load = new List<WireClient>();
        Process? clients = null;
        try
        {
            for (var i = 0; i < LoadConnections; i++)
            {
                load.Add(await WireClient.ConnectAsync(host.Port, bufferSize: 4096));
            }

            // Warm-up on the load connections: code jitted, pools filled, before the baseline.
            await RunLoadAsync(load, TimeSpan.FromSeconds(1), ct);
            UnobservedTaskExceptions.ForceGc();
            var heap0 = GC.GetTotalMemory(forceFullCollection: false);
            var rss0 = RssBytes();
            var fd0 = Posix.OpenDescriptorCount();
            var sockets0 = Sockets();
            Assert.True(await Poll.UntilAsync(() => active.Value == LoadConnections, TimeSpan.FromSeconds(10)), $"Kestrel counts {active.Value} connections, not {LoadConnections}.");

            // 10,000 idle connections, opened one after another, each served once.
            var opening = Stopwatch.StartNew();
            clients = StartClients(host.Port, out var clientOutput, out var drained);
            var opened = await Poll.UntilAsync(() => clientOutput.Any(l => l.StartsWith("OPENED", StringComparison.Ordinal) || l.StartsWith("FAILED", StringComparison.Ordinal)) || clients.HasExited, TimeSpan.FromSeconds(180));
            var openTime = opening.Elapsed;
            Assert.True(opened && clientOutput.Contains($"OPENED {IdleConnections}"), $"The clients did not open {IdleConnections} connections in {Figures.Seconds(openTime)}: {string.Join(" | ", clientOutput)}");
            Assert.True(
                await Poll.UntilAsync(() => active.Value == LoadConnections + IdleConnections && Sockets() == sockets0 + IdleConnections, TimeSpan.FromSeconds(30)),
                $"Kestrel counts {active.Value} connections and the process has {Sockets() - sockets0} sockets more than the baseline; expected {LoadConnections + IdleConnections} and {IdleConnections}.");

            UnobservedTaskExceptions.ForceGc();
            var heap1 = GC.GetTotalMemory(forceFullCollection: false);
            var rss1 = RssBytes();
            var managedPerIdle = (heap1 - heap0) / (double)IdleConnections;
            var rssPerIdle = (rss1 - rss0) / (double)IdleConnections;

            // Load beside them.
            var (requests, errors) = await RunLoadAsync(load, s_load, ct);
            var stillIdle = active.Value - LoadConnections;
            var idleSockets = Sockets() - sockets0;
            UnobservedTaskExceptions.ForceGc();
            var heap2 = GC.GetTotalMemory(forceFullCollection: false);

            // The clients leave: bash exits, the kernel closes its sockets (FIN).
            var closing = Stopwatch.StartNew();
            await clients.StandardInput.WriteLineAsync("close".AsMemory(), ct);
            clients.StandardInput.Close();
            await clients.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(30), ct);
            // Its stdin, stdout and stderr pipes are this process's descriptors until closed here:
            // Process.Dispose leaves readers in synchronous mode to the finalizer (measured: they
            // stayed open 14-20 s).
            await drained.WaitAsync(TimeSpan.FromSeconds(10), ct);
            clients.StandardOutput.Dispose();
            clients.StandardError.Dispose();
            clients.Dispose();
            clients = null;
            var back = await Poll.UntilAsync(() => active.Value == LoadConnections && Sockets() == sockets0 && Posix.OpenDescriptorCount() <= fd0, TimeSpan.FromSeconds(30));
            var closeTime = closing.Elapsed;

            Figures.Report("10k idle: time to open 10,000 connections (one request each, sequential bash client)", Figures.Seconds(openTime));
            Figures.Report("10k idle: managed heap per idle connection (full GC)", $"{managedPerIdle:F0} B ({Mib(heap1 - heap0)} for {IdleConnections})");
            Figures.Report("10k idle: RSS per idle connection", $"{rssPerIdle:F0} B ({Mib(rss1 - rss0)} for {IdleConnections})");
            Figures.Report("10k idle: managed heap after the load, over the baseline", Mib(heap2 - heap0));
            Figures.Report($"10k idle: load on {LoadConnections} connections beside them", $"{requests} requests in {Figures.Seconds(s_load)} ({requests / s_load.TotalSeconds:F0}/s), {errors.Count} errors");
            Figures.Report("10k idle: time until descriptors and connections were back at the baseline", Figures.Seconds(closeTime));

            Assert.True(errors.IsEmpty, $"{errors.Count} load requests failed: " + string.Join(" | ", errors.Take(5)));
            Assert.True(requests > 0, "No load request completed.");
            Assert.Equal(IdleConnections, stillIdle);
            Assert.Equal(IdleConnections, idleSockets);
            Assert.True(managedPerIdle < MaxManagedBytesPerIdle, $"An idle connection costs {managedPerIdle:F0} bytes of managed heap (bound {MaxManagedBytesPerIdle}).");
            Assert.True(back, $"After the clients left: Kestrel counts {active.Value} connections (expected {LoadConnections}), sockets {Sockets()} (baseline {sockets0}), descriptors {Posix.OpenDescriptorCount()} (baseline {fd0}): {Posix.DescribeDescriptors()}");
            Assert.DoesNotContain(host.Logs.Records, r => r.Level >= LogLevel.Error);
        }
        finally
        {
            if (clients is not null)
            {
                if (!clients.HasExited)
                {
                    clients.Kill();
                    await clients.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
                }

                clients.Dispose();
            }

            foreach (var client in load)
            {
                await client.DisposeAsync();
            }
        }

        Assert.True(await Poll.UntilAsync(() => active.Value == 0, TimeSpan.FromSeconds(10)), $"Kestrel still counts {active.Value} connections after every client left.");
        Figures.Report("10k idle: test time", Figures.Seconds(total.Elapsed));
    }

    /// <summary>Sockets among this process's descriptors (the server's ends of every connection, the listener, the load clients).</summary>
    private static int Sockets()
        => Directory.GetFiles("/proc/self/fd").Count(fd =>
        {
            try
            {
                return new FileInfo(fd).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true;
            }
            catch (IOException)
            {
                return false;
            }
        });

    /// <summary>VmRSS of this process in bytes (proc(5)).</summary>
    private static long RssBytes()
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }

    private static string Mib(long bytes) => (bytes / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) + " MiB";

    /// <summary>The bash child that opens the idle connections; its output lines go to <paramref name="output"/>; <paramref name="drained"/> completes when it closed both.</summary>
    private static Process StartClients(int port, out ConcurrentQueue<string> output, out Task drained)
    {
        var process = Process.Start(new ProcessStartInfo(
            "bash",
            ["-c", ClientScript, "zc-idle-clients", port.ToString(CultureInfo.InvariantCulture), (IdleConnections + 64).ToString(CultureInfo.InvariantCulture), IdleConnections.ToString(CultureInfo.InvariantCulture)])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var lines = new ConcurrentQueue<string>();
        drained = Task.WhenAll(Drain(process.StandardOutput), Drain(process.StandardError));
        output = lines;
        return process;

        async Task Drain(StreamReader reader)
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                lines.Enqueue(line);
            }
        }
    }

    /// <summary>Keep-alive GETs on every connection until <paramref name="duration"/> passes; each response must be 200 "hello".</summary>
    private static async Task<(long Requests, ConcurrentQueue<string> Errors)> RunLoadAsync(List<WireClient> clients, TimeSpan duration, CancellationToken ct)
    {
        long requests = 0;
        var errors = new ConcurrentQueue<string>();
        var deadline = Stopwatch.StartNew();
        await Task.WhenAll(clients.Select(async client =>
        {
            while (deadline.Elapsed < duration && !ct.IsCancellationRequested)
            {
                try
                {
                    await client.SendAsync(Wire.Get("/hello"));
                    var response = await client.ReadResponseAsync(timeout: TimeSpan.FromSeconds(10));
                    if (response.Status != 200 || response.BodyText != "hello")
                    {
                        errors.Enqueue($"{response.Status} {response.BodyText}");
                    }

                    Interlocked.Increment(ref requests);
                }
                catch (Exception ex) when (ex is IOException or TimeoutException or System.Net.Sockets.SocketException or OperationCanceledException)
                {
                    errors.Enqueue(ex.GetType().Name + ": " + ex.Message);
                    return;
                }
            }
        }));
        return (requests, errors);
    }

    /// <summary>Kestrel's <c>kestrel.active_connections</c> of one host (its meter factory), summed.</summary>
    private sealed class ActiveConnections : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _value;

        public ActiveConnections(IMeterFactory factory)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Name == "kestrel.active_connections" && ReferenceEquals(instrument.Meter.Scope, factory))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _value, value));
            _listener.Start();
        }

        public long Value => Interlocked.Read(ref _value);

        public void Dispose() => _listener.Dispose();
    }
}

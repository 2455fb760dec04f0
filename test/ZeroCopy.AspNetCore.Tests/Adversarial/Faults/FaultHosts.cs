using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.AspNetCore.Connections;
using ZeroCopy.AspNetCore.Transport;

namespace ZeroCopy.AspNetCore.Tests.Adversarial.Faults;

/// <summary>How a file body leaves the server in a fault test.</summary>
public enum FaultStrategy
{
    /// <summary>Mode SendFile, no cache: sendfile(2) from the file.</summary>
    SendFile,

    /// <summary>Mode Splice, no cache: file → pipe → socket.</summary>
    Splice,

    /// <summary>Mode Stream, no cache: pread into Kestrel's pipe.</summary>
    Stream,

    /// <summary>Hot cache, admitted on the first hit: a sealed memfd snapshot sent with sendfile.</summary>
    CachedSnapshot,

    /// <summary>Hot cache for a file above MaxFileBytes: the cached (open) descriptor sent with sendfile.</summary>
    CachedDescriptor,
}

/// <summary>Hosts, measurements and figures shared by the fault tests.</summary>
internal static class FaultHosts
{
    /// <summary>
    /// Kestrel on 127.0.0.1:0 with the zero-copy transport on <paramref name="engine"/> serving
    /// <paramref name="root"/> with one strategy; every body of one byte or more is eligible for the
    /// zero-copy path.
    /// </summary>
    public static Task<TestHost> StartAsync(
        TempDirectory root,
        FaultStrategy strategy,
        ZeroCopyTransportEngine engine,
        long snapshotMaxBytes = 64L << 20,
        Action<ZeroCopyStaticFilesOptions>? tune = null,
        Action<WebApplicationBuilder>? configure = null,
        bool quietLogs = false,
        Action<WebApplication>? before = null)
        => Hosts.ZeroCopyAsync(
            HostKind.Kestrel,
            root,
            before: before,
            configureBuilder: b =>
            {
                Engines.Use(b, engine);
                b.Services.AddZeroCopyStaticFiles(o =>
                {
                    o.MinZeroCopyBytes = 0;
                    Apply(o, strategy, snapshotMaxBytes);
                    tune?.Invoke(o);
                });
                if (quietLogs)
                {
                    // The collector keeps every record: at Trace a long run would fill memory.
                    b.Logging.SetMinimumLevel(LogLevel.Warning);
                }

                configure?.Invoke(b);
            });

    public static void Apply(ZeroCopyStaticFilesOptions o, FaultStrategy strategy, long snapshotMaxBytes = 64L << 20)
    {
        switch (strategy)
        {
            case FaultStrategy.SendFile:
                o.Mode = ZeroCopyMode.SendFile;
                o.Cache.Enabled = false;
                break;
            case FaultStrategy.Splice:
                o.Mode = ZeroCopyMode.Splice;
                o.Cache.Enabled = false;
                break;
            case FaultStrategy.Stream:
                o.Mode = ZeroCopyMode.Stream;
                o.Cache.Enabled = false;
                break;
            case FaultStrategy.CachedSnapshot:
                o.Mode = ZeroCopyMode.SendFile;
                o.Cache.Enabled = true;
                o.Cache.MinHits = 1;
                o.Cache.MaxFileBytes = snapshotMaxBytes;
                o.Cache.MaxTotalBytes = Math.Max(256L << 20, 4 * snapshotMaxBytes);
                break;
            case FaultStrategy.CachedDescriptor:
                o.Mode = ZeroCopyMode.SendFile;
                o.Cache.Enabled = true;
                o.Cache.MinHits = 1;
                o.Cache.MaxFileBytes = 4096;
                break;
        }
    }

    /// <summary>The <c>zerocopy.strategy</c> tag a complete body of this strategy is counted under.</summary>
    public static string MetricTag(FaultStrategy strategy) => strategy switch
    {
        FaultStrategy.Splice => "splice",
        FaultStrategy.Stream => "stream",
        FaultStrategy.CachedSnapshot => "hot-cache",
        _ => "sendfile",
    };

    public static MetricsCollector Metrics(TestHost host) => new(host.Services.GetRequiredService<IMeterFactory>());

    public static ZeroCopyTransportFactory Transport(TestHost host)
        => host.Services.GetServices<IConnectionListenerFactory>().OfType<ZeroCopyTransportFactory>().Single();

    public static void RequireLinux()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The zero-copy transport and these measurements need Linux.");
    }
}

/// <summary>What the process holds: descriptors, memfd snapshots, resident memory (Linux /proc).</summary>
internal static class ProcessProbe
{
    private const string MemfdPrefix = "memfd:zerocopy-cache-";

    public static int Descriptors() => Posix.AllDescriptorCount();

    /// <summary>Open descriptors other than managed images (see <see cref="Posix.OpenDescriptorCount"/>).</summary>
    public static int DescriptorsExceptImages() => Posix.OpenDescriptorCount();

    /// <summary>Mappings of cache snapshots (lines of /proc/self/maps naming a zerocopy-cache memfd).</summary>
    public static int MemfdMappings()
        => File.ReadLines("/proc/self/maps").Count(l => l.Contains(MemfdPrefix, StringComparison.Ordinal));

    /// <summary>Descriptors pointing at a cache memfd.</summary>
    public static int MemfdDescriptors()
        => Directory.GetFiles("/proc/self/fd").Count(fd =>
        {
            try
            {
                return new FileInfo(fd).LinkTarget?.Contains(MemfdPrefix, StringComparison.Ordinal) == true;
            }
            catch (IOException)
            {
                return false;
            }
        });

    /// <summary>
    /// Waits until <paramref name="measure"/> returns the same value for 10 samples in a row
    /// (20 ms apart), at most <paramref name="timeout"/> (default 5 s); returns the last value.
    /// </summary>
    public static async Task<long> SettleAsync(Func<long> measure, TimeSpan? timeout = null)
    {
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        var last = measure();
        var same = 0;
        while (same < 10 && stopwatch.Elapsed < (timeout ?? TimeSpan.FromSeconds(5)))
        {
            await Task.Delay(20);
            var now = measure();
            same = now == last ? same + 1 : 0;
            last = now;
        }

        return last;
    }

    /// <summary>VmRSS in bytes.</summary>
    public static long RssBytes()
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>A full, compacting, decommitting collection, finalizers included.</summary>
    public static void ForceGc() => UnobservedTaskExceptions.ForceGc();

    public static string Mib(long bytes) => (bytes / 1048576.0).ToString("F1", CultureInfo.InvariantCulture) + " MiB";
}

/// <summary>CI form versus full form: <c>ZC_RELIABILITY_FULL=1</c> selects the full sizes.</summary>
internal static class Scale
{
    public static bool Full => Figures.Full;

    public static string Name => Figures.Form;
}

/// <summary><see cref="Poll"/> for asynchronous conditions.</summary>
internal static class AsyncPoll
{
    /// <summary>Re-checks every 50 ms until the condition holds or the timeout passes (then checks once more).</summary>
    public static async Task<bool> UntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        while (!await condition())
        {
            if (stopwatch.Elapsed > timeout)
            {
                return await condition();
            }

            await Task.Delay(50);
        }

        return true;
    }
}

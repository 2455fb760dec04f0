using System.Globalization;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>
/// CPU time of the whole machine and of the harness's own side, so each cell can say how much of
/// the machine something else used while it ran (other users' builds and tests share these cores).
/// </summary>
/// <remarks>
/// With tick-based accounting and no IRQ time accounting (this project's kernels), softirq work done
/// in a process's context (loopback delivery after its send) is part of that process's utime+stime;
/// softirq work deferred to ksoftirqd is not, so ksoftirqd is measured on its own.
/// </remarks>
internal readonly record struct SystemCpu(double BusySeconds, double StealSeconds, double HarnessSeconds, double SoftirqThreadSeconds)
{
    private static readonly int[] s_softirqThreads = FindSoftirqThreads();

    public static SystemCpu Read()
    {
        double busy = 0, steal = 0;
        foreach (var line in File.ReadLines("/proc/stat"))
        {
            if (line.StartsWith("cpu ", StringComparison.Ordinal))
            {
                // user nice system idle iowait irq softirq steal guest guest_nice (proc(5)); guest time is inside user.
                var ticks = line[4..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(static v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
                busy = (ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]) / ProcStats.TicksPerSecond;
                steal = ticks[7] / ProcStats.TicksPerSecond;
                break;
            }
        }

        return new SystemCpu(busy, steal, ProcStats.SelfAndReapedChildrenSeconds(), s_softirqThreads.Sum(static pid => ProcStats.CpuSeconds(pid) ?? 0));
    }

    private static int[] FindSoftirqThreads()
    {
        var pids = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                try
                {
                    if (File.ReadAllText(Path.Combine(directory, "comm")).StartsWith("ksoftirqd/", StringComparison.Ordinal))
                    {
                        pids.Add(pid);
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                }
            }
        }

        return [.. pids];
    }
}

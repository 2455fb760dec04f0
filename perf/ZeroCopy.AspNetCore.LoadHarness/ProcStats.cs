using System.Globalization;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>
/// What /proc says about the server's processes: CPU time (utime + stime of the thread group,
/// which includes threads that already exited) and peak resident memory (VmHWM, reset per cell
/// through clear_refs).
/// </summary>
internal static class ProcStats
{
    /// <summary>USER_HZ: the unit of utime and stime in /proc/PID/stat (100 on Linux for decades).</summary>
    private static readonly double s_ticksPerSecond = ReadTicksPerSecond();

    public static double TicksPerSecond => s_ticksPerSecond;

    /// <summary>utime + stime of one process, in seconds; null when it is gone.</summary>
    public static double? CpuSeconds(int pid)
    {
        var fields = StatFields(pid);
        if (fields is null)
        {
            return null;
        }

        // Fields after the command name start at field 3 (state); utime is field 14, stime 15 (proc(5)).
        var utime = long.Parse(fields[14 - 3], CultureInfo.InvariantCulture);
        var stime = long.Parse(fields[15 - 3], CultureInfo.InvariantCulture);
        return (utime + stime) / s_ticksPerSecond;
    }

    /// <summary>
    /// CPU seconds of this process plus its reaped children (utime, stime, cutime, cstime): the
    /// harness and every wrk run that has exited.
    /// </summary>
    public static double SelfAndReapedChildrenSeconds()
    {
        var fields = StatFields(Environment.ProcessId)!;
        return Enumerable.Range(14, 4).Sum(field => long.Parse(fields[field - 3], CultureInfo.InvariantCulture)) / s_ticksPerSecond;
    }

    /// <summary>The parent pid of a process (field 4), or null when it is gone.</summary>
    public static int? ParentPid(int pid)
    {
        var fields = StatFields(pid);
        return fields is null ? null : int.Parse(fields[4 - 3], CultureInfo.InvariantCulture);
    }

    /// <summary>The direct children of a process, found by scanning /proc (no /proc/PID/task/TID/children on every kernel).</summary>
    public static List<int> Children(int parent)
    {
        var children = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && pid != parent && ParentPid(pid) == parent)
            {
                children.Add(pid);
            }
        }

        children.Sort();
        return children;
    }

    /// <summary>Peak resident set size (VmHWM) in KiB, or null when the process is gone.</summary>
    public static long? PeakRssKiB(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    return long.Parse(line["VmHWM:".Length..].Replace("kB", string.Empty, StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }

    /// <summary>
    /// Resets VmHWM to the current RSS ("5" to /proc/PID/clear_refs, Linux 4.0+). False when not
    /// allowed; the peak is then the peak since the process started.
    /// </summary>
    public static bool ResetPeakRss(int pid)
    {
        try
        {
            File.WriteAllText($"/proc/{pid}/clear_refs", "5");
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public static bool IsAlive(int pid) => StatFields(pid) is { } fields && fields[0] != "Z" && fields[0] != "X";

    private static string[]? StatFields(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // The command name is in parentheses and may contain spaces and parentheses.
        var close = text.LastIndexOf(')');
        return close < 0 ? null : text[(close + 2)..].Split(' ');
    }

    private static double ReadTicksPerSecond()
    {
        // getconf CLK_TCK; USER_HZ is 100 on every mainstream architecture.
        try
        {
            using var getconf = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("getconf", "CLK_TCK")
            {
                RedirectStandardOutput = true,
                UseShellExecute = false,
            });
            if (getconf is not null)
            {
                var output = getconf.StandardOutput.ReadToEnd().Trim();
                getconf.WaitForExit();
                if (double.TryParse(output, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0)
                {
                    return value;
                }
            }
        }
        catch (System.ComponentModel.Win32Exception)
        {
        }

        return 100;
    }
}

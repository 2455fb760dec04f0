using System.Globalization;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>The machine the numbers came from, read from /proc and /etc/os-release.</summary>
internal static class MachineInfo
{
    public static string Describe()
    {
        var cpu = FirstValue("/proc/cpuinfo", "model name") ?? "unknown CPU";
        var virtualized = File.Exists("/proc/cpuinfo") && File.ReadLines("/proc/cpuinfo").Any(static l => l.StartsWith("flags", StringComparison.Ordinal) && l.Contains(" hypervisor", StringComparison.Ordinal));
        var memory = FirstValue("/proc/meminfo", "MemTotal") is { } total
            && long.TryParse(total.Replace("kB", string.Empty, StringComparison.Ordinal).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var kib)
            ? string.Create(CultureInfo.InvariantCulture, $"{kib / 1048576.0:F0} GiB RAM")
            : "unknown RAM";
        var kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : Environment.OSVersion.VersionString;
        var os = File.Exists("/etc/os-release")
            ? File.ReadLines("/etc/os-release").FirstOrDefault(static l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?["PRETTY_NAME=".Length..].Trim('"')
            : null;
        return string.Create(CultureInfo.InvariantCulture,
            $"{cpu}, {Environment.ProcessorCount} logical CPUs{(virtualized ? " (virtual machine)" : string.Empty)}, {memory}, Linux {kernel}{(os is null ? string.Empty : ", " + os)}");
    }

    private static string? FirstValue(string path, string key)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        foreach (var line in File.ReadLines(path))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && line[..colon].Trim() == key)
            {
                return line[(colon + 1)..].Trim();
            }
        }

        return null;
    }
}

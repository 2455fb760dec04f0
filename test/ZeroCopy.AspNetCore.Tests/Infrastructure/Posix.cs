using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>Creates the special files the safety tests need (Linux).</summary>
public static partial class Posix
{
    [LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int MkFifo(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "rename", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int RenameRaw(string from, string to);

    /// <summary>rename(2): atomically replaces <paramref name="to"/> (also a symlink to a directory).</summary>
    public static void Rename(string from, string to)
    {
        if (RenameRaw(from, to) != 0)
        {
            throw new IOException($"rename failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    public static void CreateFifo(string path)
    {
        if (MkFifo(path, Convert.ToUInt32("644", 8)) != 0)
        {
            throw new IOException($"mkfifo failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    // RLIMIT_NOFILE is 7 on the generic Linux ABI (x86-64, arm64: asm-generic/resource.h); struct
    // rlimit is two rlim_t (unsigned long).
    private const int RlimitNofile = 7;

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRLimit(int resource, out RLimit limit);

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetRLimit(int resource, in RLimit limit);

    /// <summary>getrlimit(RLIMIT_NOFILE): this process's soft and hard descriptor limits.</summary>
    public static (ulong Soft, ulong Hard) OpenFileLimit()
    {
        if (GetRLimit(RlimitNofile, out var limit) != 0)
        {
            throw new IOException($"getrlimit failed: errno {Marshal.GetLastPInvokeError()}");
        }

        return (limit.Current, limit.Maximum);
    }

    /// <summary>setrlimit(RLIMIT_NOFILE) with the hard limit unchanged: <paramref name="soft"/> may be at most the hard limit.</summary>
    public static void SetOpenFileSoftLimit(ulong soft)
    {
        var limit = new RLimit { Current = soft, Maximum = OpenFileLimit().Hard };
        if (SetRLimit(RlimitNofile, limit) != 0)
        {
            throw new IOException($"setrlimit(RLIMIT_NOFILE, {soft}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Binds a Unix domain socket at <paramref name="path"/>; the file stays while the socket lives.</summary>
    public static Socket CreateSocketFile(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(path));
        return socket;
    }

    /// <summary>mknod of a character device like /dev/null (1,3); false when not permitted.</summary>
    public static bool TryCreateNullDevice(string path)
    {
        using var process = Process.Start(new ProcessStartInfo("mknod", ["-m", "644", path, "c", "1", "3"])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        });
        if (process is null || !process.WaitForExit(10_000))
        {
            return false;
        }

        return process.ExitCode == 0 && File.Exists(path);
    }

    /// <summary>What the descriptors point at, grouped ("socket: 12, anon_inode:[eventpoll]: 1, ...").</summary>
    public static string DescribeDescriptors()
        => string.Join(", ", Directory.GetFiles("/proc/self/fd")
            .Select(fd =>
            {
                try
                {
                    var target = new FileInfo(fd).LinkTarget ?? "?";
                    return target.StartsWith("socket:", StringComparison.Ordinal) ? "socket" : target.StartsWith("pipe:", StringComparison.Ordinal) ? "pipe" : target;
                }
                catch (IOException)
                {
                    return "?";
                }
            })
            .GroupBy(t => t)
            .OrderByDescending(g => g.Count())
            .Select(g => $"{g.Key}: {g.Count()}"));

    /// <summary>Number of open descriptors of this process, all of them.</summary>
    public static int AllDescriptorCount() => Directory.GetFiles("/proc/self/fd").Length;

    /// <summary>
    /// Open descriptors other than managed and native images: what a leak check counts. The runtime
    /// keeps two descriptors open per loaded assembly (and one per pdb) for the life of the process
    /// and loads some lazily (the first exception stack trace rendered loads
    /// System.Diagnostics.StackTrace, System.Reflection.Metadata, System.IO.MemoryMappedFiles and a
    /// pdb: +9), which would read as a leak.
    /// </summary>
    public static int OpenDescriptorCount()
        => Directory.GetFiles("/proc/self/fd").Count(fd =>
        {
            try
            {
                var target = new FileInfo(fd).LinkTarget ?? string.Empty;
                return !(target.EndsWith(".dll", StringComparison.Ordinal) || target.EndsWith(".pdb", StringComparison.Ordinal) || target.EndsWith(".so", StringComparison.Ordinal));
            }
            catch (IOException)
            {
                // Closed between the listing and the readlink.
                return false;
            }
        });
}

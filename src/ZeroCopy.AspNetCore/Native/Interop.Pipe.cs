using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

internal static unsafe partial class Interop
{
    private const int F_SETPIPE_SZ = 1031;
    private const int F_GETPIPE_SZ = 1032;

    [LibraryImport(Libc, EntryPoint = "pipe2", SetLastError = true)]
    private static partial int Pipe2Raw(int* fds, int flags);

    [LibraryImport(Libc, EntryPoint = "fcntl", SetLastError = true)]
    private static partial int FcntlRaw(int fd, int command, int argument);

    [LibraryImport(Libc, EntryPoint = "read", SetLastError = true)]
    private static partial nint ReadRaw(int fd, byte* buffer, nuint count);

    /// <summary>pipe2(2) with O_CLOEXEC | O_NONBLOCK.</summary>
    [SupportedOSPlatform("linux")]
    internal static Errno CreatePipe(out SafeFdHandle read, out SafeFdHandle write)
    {
        var fds = stackalloc int[2];
        if (Pipe2Raw(fds, (int)(OpenFlags.O_CLOEXEC | OpenFlags.O_NONBLOCK)) != 0)
        {
            read = write = null!;
            return ErrnoExtensions.LastErrno();
        }

        read = new SafeFdHandle(fds[0], ownsHandle: true);
        write = new SafeFdHandle(fds[1], ownsHandle: true);
        return Errno.None;
    }

    /// <summary>fcntl(F_SETPIPE_SZ); returns the capacity the kernel granted, or -1.</summary>
    [SupportedOSPlatform("linux")]
    internal static int SetPipeSize(SafeHandle pipe, int size)
    {
        using var lease = new FdLease(pipe);
        var granted = FcntlRaw(lease.Fd, F_SETPIPE_SZ, size);
        return granted > 0 ? granted : FcntlRaw(lease.Fd, F_GETPIPE_SZ, 0);
    }

    /// <summary>read(2) into <paramref name="buffer"/>; -1 with errno on failure.</summary>
    [SupportedOSPlatform("linux")]
    internal static int Read(SafeHandle fd, Span<byte> buffer, out Errno errno)
    {
        using var lease = new FdLease(fd);
        fixed (byte* b = buffer)
        {
            var n = (int)ReadRaw(lease.Fd, b, (nuint)buffer.Length);
            errno = n < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
            return n;
        }
    }
}

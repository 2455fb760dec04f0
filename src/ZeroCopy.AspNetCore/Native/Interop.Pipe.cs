using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

internal static unsafe partial class Interop
{
    private const int F_SETPIPE_SZ = 1031;
    private const int F_GETPIPE_SZ = 1032;

    [LibraryImport(Libc, EntryPoint = "pipe2", SetLastError = true)]
    private static partial int Pipe2Raw(int* fds, int flags);

    // fcntl(2) is variadic; its third argument is an int for every command used here, passed as a
    // fixed argument (same registers on x86-64 and arm64 Linux).
    [LibraryImport(Libc, EntryPoint = "fcntl", SetLastError = true)]
    private static partial int FcntlRaw(SafeHandle fd, int command, int argument);

    [LibraryImport(Libc, EntryPoint = "read", SetLastError = true)]
    private static partial nint ReadRaw(SafeHandle fd, byte* buffer, nuint count);

    /// <summary>
    /// pipe2(2) with O_CLOEXEC | O_NONBLOCK. On failure both handles are invalid (already disposed).
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static Errno CreatePipe(out SafeFdHandle read, out SafeFdHandle write)
    {
        // Both handles exist before the call, as for every descriptor-creating call (see Own): once
        // pipe2 succeeds, nothing can fail before they own the ends.
        read = new SafeFdHandle();
        write = new SafeFdHandle();
        var fds = stackalloc int[2];
        if (Pipe2Raw(fds, (int)(OpenFlags.O_CLOEXEC | OpenFlags.O_NONBLOCK)) != 0)
        {
            var errno = ErrnoExtensions.LastErrno();
            read.Dispose();
            write.Dispose();
            return errno;
        }

        Marshal.InitHandle(read, fds[0]);
        Marshal.InitHandle(write, fds[1]);
        return Errno.None;
    }

    /// <summary>fcntl(F_SETPIPE_SZ); returns the capacity the kernel granted, or -1.</summary>
    [SupportedOSPlatform("linux")]
    internal static int SetPipeSize(SafeHandle pipe, int size)
    {
        var granted = FcntlRaw(pipe, F_SETPIPE_SZ, size);
        return granted > 0 ? granted : FcntlRaw(pipe, F_GETPIPE_SZ, 0);
    }

    /// <summary>read(2) into <paramref name="buffer"/>; -1 with errno on failure.</summary>
    [SupportedOSPlatform("linux")]
    internal static int Read(SafeHandle fd, Span<byte> buffer, out Errno errno)
    {
        fixed (byte* b = buffer)
        {
            var n = (int)ReadRaw(fd, b, (nuint)buffer.Length);
            errno = n < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
            return n;
        }
    }
}

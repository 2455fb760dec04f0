using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

/// <summary>open(2) flags (asm-generic values used by x86-64 and arm64).</summary>
[Flags]
internal enum OpenFlags
{
    O_RDONLY = 0x0,
    O_NOCTTY = 0x100,
    O_NONBLOCK = 0x800,
    O_DIRECTORY = 0x10000,
    O_NOFOLLOW = 0x20000,
    O_CLOEXEC = 0x80000,
    O_PATH = 0x200000,
}

/// <summary>openat2(2) <c>resolve</c> flags (include/uapi/linux/openat2.h).</summary>
[Flags]
internal enum ResolveFlags : ulong
{
    None = 0,
    RESOLVE_NO_XDEV = 0x01,
    RESOLVE_NO_MAGICLINKS = 0x02,
    RESOLVE_NO_SYMLINKS = 0x04,
    RESOLVE_BENEATH = 0x08,
    RESOLVE_IN_ROOT = 0x10,
}

internal static unsafe partial class Interop
{
    internal const int AT_FDCWD = -100;

    // openat2 is syscall 437 on every architecture (it was added after the syscall tables were unified).
    private const nint SYS_openat2 = 437;

    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    // glibc 2.36 (Debian 12) has no openat2 wrapper, so this goes through syscall(2). Only integer
    // arguments are passed, which is safe for the variadic syscall() on x86-64 and arm64.
    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    private static partial nint SyscallOpenAt2(nint number, int dirfd, byte* path, OpenHow* how, nuint size);

    [LibraryImport(Libc, EntryPoint = "openat", SetLastError = true)]
    private static partial int OpenAtRaw(int dirfd, byte* path, int flags, int mode);

    /// <summary>
    /// openat2(2) relative to <paramref name="directory"/>. Returns the new descriptor, or -1 with
    /// errno in <paramref name="errno"/>.
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static int OpenAt2(SafeHandle directory, ReadOnlySpan<byte> nullTerminatedPath, OpenFlags flags, ResolveFlags resolve, out Errno errno)
    {
        using var lease = new FdLease(directory);
        var how = new OpenHow { Flags = (ulong)(uint)flags, Mode = 0, Resolve = (ulong)resolve };
        fixed (byte* path = nullTerminatedPath)
        {
            int fd;
            do
            {
                fd = (int)SyscallOpenAt2(SYS_openat2, lease.Fd, path, &how, (nuint)sizeof(OpenHow));
                errno = fd < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
            }
            while (errno == Errno.EINTR);
            return fd;
        }
    }

    /// <summary>openat(2) with <see cref="AT_FDCWD"/>: <paramref name="nullTerminatedPath"/> is absolute.</summary>
    [SupportedOSPlatform("linux")]
    internal static int Open(ReadOnlySpan<byte> nullTerminatedPath, OpenFlags flags, out Errno errno)
    {
        fixed (byte* path = nullTerminatedPath)
        {
            int fd;
            do
            {
                fd = OpenAtRaw(AT_FDCWD, path, (int)flags, 0);
                errno = fd < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
            }
            while (errno == Errno.EINTR);
            return fd;
        }
    }
}

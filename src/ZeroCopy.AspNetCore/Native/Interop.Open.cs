using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;

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
    // arguments are passed, which is safe for the variadic syscall() on x86-64 and arm64. syscall(2)
    // returns long; a descriptor fits in the int the handle is created from (-1 on error).
    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    private static partial SafeFileHandle SyscallOpenAt2(nint number, SafeHandle dirfd, byte* path, OpenHow* how, nuint size);

    [LibraryImport(Libc, EntryPoint = "openat", SetLastError = true)]
    private static partial SafeFileHandle OpenAtCwdRaw(int dirfd, byte* path, int flags, int mode);

    [LibraryImport(Libc, EntryPoint = "openat", SetLastError = true)]
    private static partial SafeFdHandle OpenDirectoryAtCwdRaw(int dirfd, byte* path, int flags, int mode);

    /// <summary>
    /// openat2(2) relative to <paramref name="directory"/>, retried on EINTR. On failure the handle
    /// is invalid (already disposed) and <paramref name="errno"/> says why.
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static SafeFileHandle OpenAt2(SafeHandle directory, ReadOnlySpan<byte> nullTerminatedPath, OpenFlags flags, ResolveFlags resolve, out Errno errno)
    {
        var how = new OpenHow { Flags = (ulong)(uint)flags, Mode = 0, Resolve = (ulong)resolve };
        fixed (byte* path = nullTerminatedPath)
        {
            SafeFileHandle file;
            do
            {
                file = SyscallOpenAt2(SYS_openat2, directory, path, &how, (nuint)sizeof(OpenHow));
            }
            while (Failed(file, out errno) && errno == Errno.EINTR);

            return file;
        }
    }

    /// <summary>
    /// openat(2) with <see cref="AT_FDCWD"/> (<paramref name="nullTerminatedPath"/> is absolute),
    /// retried on EINTR. On failure the handle is invalid (already disposed).
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static SafeFileHandle Open(ReadOnlySpan<byte> nullTerminatedPath, OpenFlags flags, out Errno errno)
    {
        fixed (byte* path = nullTerminatedPath)
        {
            SafeFileHandle file;
            do
            {
                file = OpenAtCwdRaw(AT_FDCWD, path, (int)flags, 0);
            }
            while (Failed(file, out errno) && errno == Errno.EINTR);

            return file;
        }
    }

    /// <summary>
    /// openat(2) of an absolute directory path with O_PATH | O_DIRECTORY | O_CLOEXEC: a descriptor
    /// usable only as a <c>dirfd</c> and for fstat, retried on EINTR. On failure the handle is
    /// invalid (already disposed).
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static SafeFdHandle OpenDirectoryPath(ReadOnlySpan<byte> nullTerminatedPath, out Errno errno)
    {
        fixed (byte* path = nullTerminatedPath)
        {
            SafeFdHandle directory;
            do
            {
                directory = OpenDirectoryAtCwdRaw(AT_FDCWD, path, (int)(OpenFlags.O_PATH | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC), 0);
            }
            while (Failed(directory, out errno) && errno == Errno.EINTR);

            return directory;
        }
    }

    /// <summary>
    /// For a handle just returned by a descriptor-creating import: true (with the import's errno)
    /// when the call failed, in which case the invalid handle is disposed so it never reaches the
    /// finalizer queue. Must run before any other P/Invoke overwrites the last error.
    /// </summary>
    private static bool Failed(SafeHandle created, out Errno errno)
    {
        if (!created.IsInvalid)
        {
            errno = Errno.None;
            return false;
        }

        errno = ErrnoExtensions.LastErrno();
        created.Dispose();
        return true;
    }
}

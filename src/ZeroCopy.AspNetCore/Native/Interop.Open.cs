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
    // arguments are passed, which is safe for the variadic syscall() on x86-64 and arm64: glibc
    // hands each register to the kernel whole, and the kernel casts dirfd to its declared int.
    // syscall(2) returns long: a descriptor or -1, exact in all 64 bits.
    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    private static partial nint SyscallOpenAt2(nint number, SafeHandle dirfd, byte* path, OpenHow* how, nuint size);

    [LibraryImport(Libc, EntryPoint = "openat", SetLastError = true)]
    private static partial int OpenAtRaw(int dirfd, byte* path, int flags, int mode);

    /// <summary>
    /// openat2(2) relative to <paramref name="directory"/>, retried on EINTR. On failure the handle
    /// is invalid (already disposed) and <paramref name="errno"/> says why.
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static SafeFileHandle OpenAt2(SafeHandle directory, ReadOnlySpan<byte> nullTerminatedPath, OpenFlags flags, ResolveFlags resolve, out Errno errno)
    {
        var how = new OpenHow { Flags = (ulong)(uint)flags, Mode = 0, Resolve = (ulong)resolve };
        var file = new SafeFileHandle();
        fixed (byte* path = nullTerminatedPath)
        {
            nint fd;
            do
            {
                fd = SyscallOpenAt2(SYS_openat2, directory, path, &how, (nuint)sizeof(OpenHow));
                errno = fd < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
            }
            while (errno == Errno.EINTR);

            return Own(file, fd < 0 ? -1 : (int)fd);
        }
    }

    /// <summary>
    /// openat(2) with <see cref="AT_FDCWD"/> (<paramref name="nullTerminatedPath"/> is absolute),
    /// retried on EINTR. On failure the handle is invalid (already disposed).
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static SafeFileHandle Open(ReadOnlySpan<byte> nullTerminatedPath, OpenFlags flags, out Errno errno)
    {
        var file = new SafeFileHandle();
        var fd = OpenAtCwd(nullTerminatedPath, flags, out errno);
        return Own(file, fd);
    }

    /// <summary>
    /// openat(2) of an absolute directory path with O_PATH | O_DIRECTORY | O_CLOEXEC: a descriptor
    /// usable only as a <c>dirfd</c> and for fstat, retried on EINTR. On failure the handle is
    /// invalid (already disposed).
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static SafeFdHandle OpenDirectoryPath(ReadOnlySpan<byte> nullTerminatedPath, out Errno errno)
    {
        var directory = new SafeFdHandle();
        var fd = OpenAtCwd(nullTerminatedPath, OpenFlags.O_PATH | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC, out errno);
        return Own(directory, fd);
    }

    /// <summary>openat(2) with <see cref="AT_FDCWD"/>, retried on EINTR: the descriptor, or -1 with errno.</summary>
    private static int OpenAtCwd(ReadOnlySpan<byte> nullTerminatedPath, OpenFlags flags, out Errno errno)
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

    /// <summary>
    /// Gives <paramref name="fd"/>, the int result of a descriptor-creating call, to
    /// <paramref name="handle"/>, which the caller created (invalid) before the call: nothing that
    /// can fail (an allocation) stands between a descriptor's creation and its owner. When the call
    /// failed (<paramref name="fd"/> &lt; 0) the handle is disposed, so it never reaches the
    /// finalizer queue, and returned invalid.
    /// </summary>
    private static THandle Own<THandle>(THandle handle, int fd)
        where THandle : SafeHandle
    {
        if (fd < 0)
        {
            handle.Dispose();
            return handle;
        }

        Marshal.InitHandle(handle, fd);
        return handle;
    }
}

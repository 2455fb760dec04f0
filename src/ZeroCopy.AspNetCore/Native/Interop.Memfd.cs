using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;

namespace ZeroCopy.AspNetCore.Native;

/// <summary>memfd seals (include/uapi/linux/fcntl.h).</summary>
[Flags]
internal enum MemfdSeals
{
    F_SEAL_SEAL = 0x1,
    F_SEAL_SHRINK = 0x2,
    F_SEAL_GROW = 0x4,
    F_SEAL_WRITE = 0x8,
}

internal static unsafe partial class Interop
{
    private const uint MFD_CLOEXEC = 0x1;
    private const uint MFD_ALLOW_SEALING = 0x2;
    private const int F_ADD_SEALS = 1033;
    private const int F_DUPFD_CLOEXEC = 1030;

    [LibraryImport(Libc, EntryPoint = "memfd_create", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int MemfdCreateRaw(string name, uint flags);

    /// <summary>
    /// memfd_create(2) with MFD_CLOEXEC | MFD_ALLOW_SEALING. On failure the handle is invalid
    /// (already disposed).
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static SafeFileHandle MemfdCreate(string name, out Errno errno)
    {
        var memfd = new SafeFileHandle();
        var fd = MemfdCreateRaw(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        errno = fd < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
        return Own(memfd, fd);
    }

    /// <summary>fcntl(F_ADD_SEALS).</summary>
    [SupportedOSPlatform("linux")]
    internal static Errno AddSeals(SafeHandle memfd, MemfdSeals seals)
        => FcntlRaw(memfd, F_ADD_SEALS, (int)seals) == 0 ? Errno.None : ErrnoExtensions.LastErrno();

    /// <summary>
    /// fcntl(F_DUPFD_CLOEXEC): a second descriptor for the same open file. On failure the handle is
    /// invalid (already disposed).
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static SafeFileHandle Duplicate(SafeHandle fd, out Errno errno)
    {
        var copy = new SafeFileHandle();
        var duplicate = FcntlRaw(fd, F_DUPFD_CLOEXEC, 0);
        errno = duplicate < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
        return Own(copy, duplicate);
    }
}

using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

internal static unsafe partial class Interop
{
    private const int PROT_READ = 0x1;
    private const int PROT_WRITE = 0x2;
    private const int MAP_SHARED = 0x01;

    [LibraryImport(Libc, EntryPoint = "mmap", SetLastError = true)]
    private static partial nint MmapRaw(nint address, nuint length, int protection, int flags, SafeHandle fd, long offset);

    [LibraryImport(Libc, EntryPoint = "munmap", SetLastError = true)]
    internal static partial int Munmap(nint address, nuint length);

    /// <summary>
    /// mmap(2) of a whole descriptor, read-write and shared, not populated: a page is allocated by
    /// the first write into it, so a cache arena costs memory as its slots fill. 0 with errno on
    /// failure.
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static nint MapReadWrite(SafeHandle fd, long length, out Errno errno)
    {
        var address = MmapRaw(0, (nuint)length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (address == -1)
        {
            errno = ErrnoExtensions.LastErrno();
            return 0;
        }

        errno = Errno.None;
        return address;
    }
}

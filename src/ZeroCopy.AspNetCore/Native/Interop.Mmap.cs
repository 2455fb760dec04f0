using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

internal static unsafe partial class Interop
{
    private const int PROT_READ = 0x1;
    private const int MAP_SHARED = 0x01;

    // Maps every page at once (the memfd's pages are resident): one call instead of a page fault per
    // 4 KiB on the first response that reads them.
    private const int MAP_POPULATE = 0x8000;

    [LibraryImport(Libc, EntryPoint = "mmap", SetLastError = true)]
    private static partial nint MmapRaw(nint address, nuint length, int protection, int flags, SafeHandle fd, long offset);

    [LibraryImport(Libc, EntryPoint = "munmap", SetLastError = true)]
    internal static partial int Munmap(nint address, nuint length);

    /// <summary>mmap(2) of a whole descriptor, read-only, shared and populated; 0 with errno on failure.</summary>
    [SupportedOSPlatform("linux")]
    internal static nint MapReadOnly(SafeHandle fd, long length, out Errno errno)
    {
        var address = MmapRaw(0, (nuint)length, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
        if (address == -1)
        {
            errno = ErrnoExtensions.LastErrno();
            return 0;
        }

        errno = Errno.None;
        return address;
    }
}

using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

internal static unsafe partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "ftruncate", SetLastError = true)]
    private static partial int FTruncateRaw(SafeHandle fd, long length);

    /// <summary>ftruncate(2): sets the size of a descriptor's file (a memfd's size before sealing it).</summary>
    [SupportedOSPlatform("linux")]
    internal static Errno FTruncate(SafeHandle fd, long length)
        => FTruncateRaw(fd, length) == 0 ? Errno.None : ErrnoExtensions.LastErrno();
}

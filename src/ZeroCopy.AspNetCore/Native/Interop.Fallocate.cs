using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

internal static unsafe partial class Interop
{
    private const int FALLOC_FL_KEEP_SIZE = 0x01;
    private const int FALLOC_FL_PUNCH_HOLE = 0x02;

    [LibraryImport(Libc, EntryPoint = "fallocate", SetLastError = true)]
    private static partial int FallocateRaw(SafeHandle fd, int mode, long offset, long length);

    /// <summary>
    /// fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE): the file's pages in the range leave it
    /// (the size stays; reads of the range return zeros until written again). A page something else
    /// still references (a socket buffer after sendfile or splice) keeps its bytes for that holder.
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static Errno PunchHole(SafeHandle fd, long offset, long length)
        => FallocateRaw(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) == 0 ? Errno.None : ErrnoExtensions.LastErrno();
}

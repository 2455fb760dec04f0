using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

internal static unsafe partial class Interop
{
    /// <summary>Linux caps one sendfile(2)/splice(2) call at 0x7ffff000 bytes (MAX_RW_COUNT).</summary>
    internal const long MaxTransferPerCall = 0x7ffff000;

    [LibraryImport(Libc, EntryPoint = "sendfile", SetLastError = true)]
    private static partial nint SendFileRaw(SafeHandle outFd, SafeHandle inFd, long* offset, nuint count);

    /// <summary>
    /// sendfile(2) from <paramref name="file"/> at <paramref name="offset"/> (advanced by the bytes
    /// sent) into <paramref name="destination"/> (a socket, or any file since Linux 2.6.33). Returns
    /// bytes sent, 0 at end of file, or -1 with errno. EINTR is returned to the caller, not retried
    /// here, so the retry policy is testable.
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static long SendFile(SafeHandle destination, SafeHandle file, ref long offset, long count, out Errno errno)
    {
        long position = offset;
        var sent = (long)SendFileRaw(destination, file, &position, (nuint)Math.Min(count, MaxTransferPerCall));
        errno = sent < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
        if (sent > 0)
        {
            offset = position;
        }

        return sent;
    }
}

using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

/// <summary>splice(2) flags (include/linux/splice.h).</summary>
[Flags]
internal enum SpliceFlags : uint
{
    None = 0,
    SPLICE_F_MOVE = 1,
    SPLICE_F_NONBLOCK = 2,
    SPLICE_F_MORE = 4,
}

internal static unsafe partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "splice", SetLastError = true)]
    private static partial nint SpliceRaw(SafeHandle fdIn, long* offIn, SafeHandle fdOut, long* offOut, nuint length, uint flags);

    /// <summary>splice(2) from a file at <paramref name="offset"/> (advanced) into a pipe.</summary>
    [SupportedOSPlatform("linux")]
    internal static long SpliceFromFile(SafeHandle file, ref long offset, SafeHandle pipeWrite, long length, SpliceFlags flags, out Errno errno)
    {
        long position = offset;
        var moved = (long)SpliceRaw(file, &position, pipeWrite, null, (nuint)Math.Min(length, MaxTransferPerCall), (uint)flags);
        errno = moved < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
        if (moved > 0)
        {
            offset = position;
        }

        return moved;
    }

    /// <summary>splice(2) from a pipe into a socket.</summary>
    [SupportedOSPlatform("linux")]
    internal static long SpliceToSocket(SafeHandle pipeRead, SafeHandle socket, long length, SpliceFlags flags, out Errno errno)
    {
        var moved = (long)SpliceRaw(pipeRead, null, socket, null, (nuint)Math.Min(length, MaxTransferPerCall), (uint)flags);
        errno = moved < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
        return moved;
    }
}

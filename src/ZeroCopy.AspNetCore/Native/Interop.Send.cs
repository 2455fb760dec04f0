using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

/// <summary>send(2) flags (linux/socket.h).</summary>
[Flags]
internal enum SendFlags
{
    MSG_DONTWAIT = 0x40,
    MSG_NOSIGNAL = 0x4000,

    /// <summary>More data follows: TCP holds a partial segment back until a send without it (tcp(7); TCP_CORK for one call, even with TCP_NODELAY).</summary>
    MSG_MORE = 0x8000,
}

internal static unsafe partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "send", SetLastError = true)]
    private static partial nint SendRaw(SafeHandle socket, byte* buffer, nuint length, int flags);

    /// <summary>
    /// One non-blocking send(2) of <paramref name="bytes"/>. Returns the bytes the kernel took, or
    /// -1 with errno (EAGAIN when the socket buffer is full). Never raises SIGPIPE.
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static long Send(SafeHandle socket, ReadOnlySpan<byte> bytes, SendFlags flags, out Errno errno)
    {
        fixed (byte* start = bytes)
        {
            var sent = (long)SendRaw(socket, start, (nuint)bytes.Length, (int)(flags | SendFlags.MSG_DONTWAIT | SendFlags.MSG_NOSIGNAL));
            errno = sent < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
            return sent;
        }
    }
}

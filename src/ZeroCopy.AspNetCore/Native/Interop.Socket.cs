using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

/// <summary>One <c>struct iovec</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct IoVec
{
    public byte* Base;
    public nuint Length;
}

internal static unsafe partial class Interop
{
    private const int F_GETFL = 3;
    private const int F_SETFL = 4;

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [LibraryImport(Libc, EntryPoint = "recv", SetLastError = true)]
    private static partial nint RecvRaw(SafeHandle socket, byte* buffer, nuint length, int flags);

    [LibraryImport(Libc, EntryPoint = "sendmsg", SetLastError = true)]
    private static partial nint SendMsgRaw(SafeHandle socket, MsgHdr* message, int flags);

    /// <summary>recv(2) into <paramref name="buffer"/>: bytes received, 0 at the peer's FIN, or -1 with errno.</summary>
    [SupportedOSPlatform("linux")]
    internal static long Receive(SafeHandle socket, Span<byte> buffer, out Errno errno)
    {
        fixed (byte* b = buffer)
        {
            var n = (long)RecvRaw(socket, b, (nuint)buffer.Length, 0);
            errno = n < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
            return n;
        }
    }

    /// <summary>
    /// sendmsg(2) of a gather list, non-blocking and without SIGPIPE (MSG_DONTWAIT | MSG_NOSIGNAL
    /// are always added). Returns the bytes the kernel took, or -1 with errno.
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static long SendGather(SafeHandle socket, IoVec* vectors, int count, SendFlags flags, out Errno errno)
    {
        MsgHdr message = default;
        message.Iov = vectors;
        message.IovLength = (nuint)count;
        var sent = (long)SendMsgRaw(socket, &message, (int)(flags | SendFlags.MSG_DONTWAIT | SendFlags.MSG_NOSIGNAL));
        errno = sent < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
        return sent;
    }

    /// <summary>Sets O_NONBLOCK on a descriptor (fcntl F_GETFL/F_SETFL).</summary>
    [SupportedOSPlatform("linux")]
    internal static Errno SetNonBlocking(SafeHandle fd)
    {
        var flags = FcntlRaw(fd, F_GETFL, 0);
        if (flags < 0 || FcntlRaw(fd, F_SETFL, flags | (int)OpenFlags.O_NONBLOCK) < 0)
        {
            return ErrnoExtensions.LastErrno();
        }

        return Errno.None;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Returned;
    }

    private const short POLLOUT = 0x004;

    [LibraryImport(Libc, EntryPoint = "poll", SetLastError = true)]
    private static partial int PollRaw(PollFd* fds, nuint count, int timeout);

    /// <summary>
    /// True when <paramref name="socket"/> has room to send now (poll(2) with POLLOUT and timeout
    /// 0; an error or hang-up counts as ready, the next send reports it).
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static bool IsWritableNow(SafeHandle socket)
    {
        var added = false;
        try
        {
            socket.DangerousAddRef(ref added);
            var fd = new PollFd { Fd = (int)socket.DangerousGetHandle(), Events = POLLOUT };
            return PollRaw(&fd, 1, 0) > 0;
        }
        finally
        {
            if (added)
            {
                socket.DangerousRelease();
            }
        }
    }
}


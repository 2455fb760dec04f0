using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

/// <summary>epoll event bits (linux/eventpoll.h).</summary>
[Flags]
internal enum EpollEvents : uint
{
    None = 0,
    EPOLLIN = 0x001,
    EPOLLOUT = 0x004,
    EPOLLERR = 0x008,
    EPOLLHUP = 0x010,
    EPOLLRDHUP = 0x2000,
    EPOLLET = 1u << 31,
}

internal static unsafe partial class Interop
{
    private const int EPOLL_CLOEXEC = 0x80000;
    private const int EPOLL_CTL_ADD = 1;
    private const int EPOLL_CTL_DEL = 2;
    private const int EFD_CLOEXEC = 0x80000;
    private const int EFD_NONBLOCK = 0x800;

    /// <summary>
    /// Size of <c>struct epoll_event</c>: linux/eventpoll.h declares it packed (12 bytes, the 64-bit
    /// data at offset 4) on x86-64 only; elsewhere the data is 8-byte aligned (16 bytes).
    /// </summary>
    internal static readonly int EpollEventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    private static readonly int EpollDataOffset = EpollEventSize == 12 ? 4 : 8;

    [LibraryImport(Libc, EntryPoint = "epoll_create1", SetLastError = true)]
    private static partial int EpollCreate1Raw(int flags);

    [LibraryImport(Libc, EntryPoint = "epoll_ctl", SetLastError = true)]
    private static partial int EpollCtlRaw(SafeHandle epoll, int op, SafeHandle fd, byte* ev);

    [LibraryImport(Libc, EntryPoint = "epoll_wait", SetLastError = true)]
    private static partial int EpollWaitRaw(SafeHandle epoll, byte* events, int maxEvents, int timeout);

    [LibraryImport(Libc, EntryPoint = "eventfd", SetLastError = true)]
    private static partial int EventFdRaw(uint initval, int flags);

    [LibraryImport(Libc, EntryPoint = "write", SetLastError = true)]
    private static partial nint WriteRaw(SafeHandle fd, byte* buffer, nuint count);

    /// <summary>epoll_create1(EPOLL_CLOEXEC).</summary>
    [SupportedOSPlatform("linux")]
    internal static Errno EpollCreate(out SafeFdHandle epoll)
    {
        epoll = new SafeFdHandle();
        var fd = EpollCreate1Raw(EPOLL_CLOEXEC);
        var errno = fd < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
        Own(epoll, fd);
        return errno;
    }

    /// <summary>eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC).</summary>
    [SupportedOSPlatform("linux")]
    internal static Errno EventFdCreate(out SafeFdHandle eventFd)
    {
        eventFd = new SafeFdHandle();
        var fd = EventFdRaw(0, EFD_NONBLOCK | EFD_CLOEXEC);
        var errno = fd < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
        Own(eventFd, fd);
        return errno;
    }

    /// <summary>Adds 1 to an eventfd's counter (a new EPOLLIN edge for an EPOLLET registration).</summary>
    [SupportedOSPlatform("linux")]
    internal static Errno EventFdSignal(SafeHandle eventFd)
    {
        ulong one = 1;
        // EAGAIN only when the counter would overflow (eventfd(2)); the fd is readable then anyway.
        return WriteRaw(eventFd, (byte*)&one, sizeof(ulong)) < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
    }

    /// <summary>epoll_ctl(EPOLL_CTL_ADD) with <paramref name="data"/> as the event's user data.</summary>
    [SupportedOSPlatform("linux")]
    internal static Errno EpollAdd(SafeHandle epoll, SafeHandle fd, EpollEvents events, ulong data)
    {
        var ev = stackalloc byte[16];
        *(uint*)ev = (uint)events;
        Unsafe.WriteUnaligned(ev + EpollDataOffset, data);
        return EpollCtlRaw(epoll, EPOLL_CTL_ADD, fd, ev) == 0 ? Errno.None : ErrnoExtensions.LastErrno();
    }

    /// <summary>epoll_ctl(EPOLL_CTL_DEL).</summary>
    [SupportedOSPlatform("linux")]
    internal static Errno EpollRemove(SafeHandle epoll, SafeHandle fd)
    {
        // Linux before 2.6.9 wanted a non-null event pointer for DEL (epoll_ctl(2), BUGS).
        var ev = stackalloc byte[16];
        return EpollCtlRaw(epoll, EPOLL_CTL_DEL, fd, ev) == 0 ? Errno.None : ErrnoExtensions.LastErrno();
    }

    /// <summary>
    /// epoll_wait(2) into <paramref name="events"/> (room for <paramref name="maxEvents"/> entries of
    /// <see cref="EpollEventSize"/> bytes). Returns the count, or -1 with errno (EINTR included).
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static int EpollWait(SafeHandle epoll, byte* events, int maxEvents, int timeoutMs, out Errno errno)
    {
        var n = EpollWaitRaw(epoll, events, maxEvents, timeoutMs);
        errno = n < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
        return n;
    }

    /// <summary>Reads entry <paramref name="index"/> of an epoll_wait result buffer.</summary>
    internal static (EpollEvents Events, ulong Data) EpollEventAt(byte* events, int index)
    {
        var entry = events + (index * EpollEventSize);
        return ((EpollEvents)(*(uint*)entry), Unsafe.ReadUnaligned<ulong>(entry + EpollDataOffset));
    }
}

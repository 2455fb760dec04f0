using System.Runtime.InteropServices;

namespace ZeroCopy.AspNetCore.Native;

/// <summary>
/// Linux errno values the library acts on (asm-generic numbering, shared by x86-64 and arm64).
/// </summary>
internal enum Errno
{
    None = 0,
    EPERM = 1,
    ENOENT = 2,
    EINTR = 4,
    EIO = 5,
    ENXIO = 6,
    EBADF = 9,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    EXDEV = 18,
    ENODEV = 19,
    ENOTDIR = 20,
    EISDIR = 21,
    EINVAL = 22,
    ENFILE = 23,
    EMFILE = 24,
    ETXTBSY = 26,
    EFBIG = 27,
    ENOSPC = 28,
    ESPIPE = 29,
    EPIPE = 32,
    ENAMETOOLONG = 36,
    ENOSYS = 38,
    ELOOP = 40,
    EOVERFLOW = 75,
    ENOTSOCK = 88,
    EOPNOTSUPP = 95,
    ECONNABORTED = 103,
    ECONNRESET = 104,
    ENOTCONN = 107,
    ESHUTDOWN = 108,
    ETIMEDOUT = 110,
}

internal static class ErrnoExtensions
{
    /// <summary>The errno of the last P/Invoke declared with <c>SetLastError = true</c>.</summary>
    public static Errno LastErrno() => (Errno)Marshal.GetLastPInvokeError();

    /// <summary>strerror(3) text, for logs and exception messages.</summary>
    public static string Message(this Errno errno) => Marshal.GetPInvokeErrorMessage((int)errno);
}

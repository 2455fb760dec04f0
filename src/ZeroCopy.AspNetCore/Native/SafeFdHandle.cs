using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

/// <summary>
/// Owns a Linux file descriptor that is not a regular file opened for I/O (directory handles,
/// pipes, memfds). Regular files use <see cref="Microsoft.Win32.SafeHandles.SafeFileHandle"/> so the
/// runtime's RandomAccess and sendfile paths can use them.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class SafeFdHandle : SafeHandle
{
    public SafeFdHandle()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    public SafeFdHandle(int fd, bool ownsHandle)
        : base(invalidHandleValue: -1, ownsHandle)
    {
        SetHandle(fd);
    }

    public override bool IsInvalid => handle < 0;

    /// <summary>The descriptor number; valid only while a reference is held.</summary>
    internal int Fd => (int)handle;

    protected override bool ReleaseHandle() => Interop.Close((int)handle) == 0;
}

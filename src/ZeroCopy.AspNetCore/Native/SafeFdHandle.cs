using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

/// <summary>
/// Owns a Linux file descriptor that the runtime never reads through (O_PATH directory handles,
/// pipes). Files and memfds use <see cref="Microsoft.Win32.SafeHandles.SafeFileHandle"/> so the
/// runtime's RandomAccess and sendfile paths can use them.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class SafeFdHandle : SafeHandle
{
    /// <summary>
    /// An invalid handle: the P/Invoke marshaller creates one before a call that returns a
    /// descriptor and stores the result in it (0 is a valid descriptor; -1 is failure).
    /// </summary>
    public SafeFdHandle()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    /// <remarks>
    /// Only the low 32 bits are a descriptor. libc functions returning <c>int</c> leave the upper
    /// half of the return register unspecified (x86-64 SysV, AAPCS64). On x86-64, glibc 2.36's openat
    /// and fcntl return -1 as 0xffffffff there, memfd_create and syscall as a sign-extended -1.
    /// </remarks>
    public override bool IsInvalid => (int)handle < 0;

    protected override bool ReleaseHandle() => Interop.Close((int)handle) == 0;
}

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
    /// An invalid handle, created before the call that makes its descriptor and given the
    /// descriptor (an int, so sign-extended) with <see cref="Marshal.InitHandle"/> (0 is a valid
    /// descriptor; -1 is failure).
    /// </summary>
    public SafeFdHandle()
        : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle < 0;

    protected override bool ReleaseHandle() => Interop.Close((int)handle) == 0;
}

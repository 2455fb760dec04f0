using System.Runtime.InteropServices;

namespace ZeroCopy.AspNetCore.Native;

internal static partial class Interop
{
    internal const string Libc = "libc";

    // SafeHandle arguments are passed as the handle's nint where the C parameter is an int: every
    // such argument is in a register (at most the 5th integer argument), and x86-64 SysV and
    // AAPCS64 read an int argument from the low 32 bits. A SafeHandle returned for an int result
    // is judged on its low 32 bits for the same reason (SafeFdHandle.IsInvalid; SafeFileHandle
    // treats any value outside 0..int.MaxValue as invalid).

    /// <summary>close(2). Only <see cref="SafeHandle.ReleaseHandle"/> implementations call this.</summary>
    [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);
}

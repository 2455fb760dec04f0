using System.Runtime.InteropServices;

namespace ZeroCopy.AspNetCore.Native;

internal static partial class Interop
{
    internal const string Libc = "libc";

    /// <summary>close(2). Only <see cref="SafeHandle.ReleaseHandle"/> implementations call this.</summary>
    [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);
}

using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

internal static unsafe partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "realpath", SetLastError = true)]
    private static partial byte* RealPathRaw(byte* path, byte* resolved);

    [LibraryImport(Libc, EntryPoint = "free")]
    private static partial void Free(void* pointer);

    /// <summary>realpath(3): the canonical absolute path with every symlink resolved, or null.</summary>
    [SupportedOSPlatform("linux")]
    internal static string? RealPath(string path)
    {
        var bytes = NullTerminated(path);
        fixed (byte* p = bytes)
        {
            var resolved = RealPathRaw(p, null);
            if (resolved == null)
            {
                return null;
            }

            try
            {
                return Marshal.PtrToStringUTF8((nint)resolved);
            }
            finally
            {
                Free(resolved);
            }
        }
    }

    /// <summary>UTF-8 bytes of <paramref name="value"/> followed by a NUL.</summary>
    internal static byte[] NullTerminated(string value)
    {
        var bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(value) + 1];
        System.Text.Encoding.UTF8.GetBytes(value, bytes);
        return bytes;
    }
}

using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Text;

namespace ZeroCopy.AspNetCore.Native;

internal static unsafe partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "readlink", SetLastError = true)]
    private static partial nint ReadLinkRaw(byte* path, byte* buffer, nuint size);

    /// <summary>
    /// The path the kernel has for an open descriptor (readlink of <c>/proc/self/fd/N</c>), or
    /// <see langword="null"/> when /proc is not available.
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static string? PathOfDescriptor(SafeHandle file)
    {
        using var lease = new FdLease(file);
        Span<byte> link = stackalloc byte[64];
        var written = Encoding.ASCII.GetBytes($"/proc/self/fd/{lease.Fd}", link);
        link[written] = 0;

        const int Max = 4096;
        var buffer = new byte[Max];
        fixed (byte* l = link)
        fixed (byte* b = buffer)
        {
            var n = ReadLinkRaw(l, b, Max);
            if (n < 0 || n >= Max)
            {
                return null;
            }

            return Encoding.UTF8.GetString(buffer, 0, (int)n);
        }
    }
}

using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Text;
using Microsoft.Win32.SafeHandles;

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
        const int Max = 4096;
        var buffer = new byte[Max];
        Span<byte> link = stackalloc byte[64];
        var added = false;
        try
        {
            // The path names the descriptor by number, which stays this open file only while a
            // reference is held (a concurrent Dispose closes it and the number is reused). The
            // marshaller cannot hold it: the descriptor is not an argument.
            file.DangerousAddRef(ref added);
            var written = Encoding.ASCII.GetBytes(ProcSelfFdPath(file), link);
            link[written] = 0;
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
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// A new open file description for the file behind <paramref name="file"/>, through
    /// <c>/proc/self/fd/N</c> (proc(5): opening the link opens the file itself), read-only and
    /// sharing everything, with <paramref name="options"/>. Throws as <see cref="File.OpenHandle"/>.
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static SafeFileHandle Reopen(SafeHandle file, FileOptions options)
    {
        var added = false;
        try
        {
            // As in PathOfDescriptor: N is this open file only while the reference is held.
            file.DangerousAddRef(ref added);
            return File.OpenHandle(ProcSelfFdPath(file), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, options);
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }

    /// <summary><c>/proc/self/fd/N</c> for a handle the caller holds a reference on.</summary>
    private static string ProcSelfFdPath(SafeHandle file)
        => "/proc/self/fd/" + ((int)file.DangerousGetHandle()).ToString(CultureInfo.InvariantCulture);
}

using System.Runtime.CompilerServices;
using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Caching;

/// <summary>
/// An immutable copy of a file: a memfd sealed against shrinking, growing and writing, mapped
/// read-only.
/// </summary>
/// <remarks>
/// Mapping a file that another process can truncate kills the process on the next read of the lost
/// pages (SIGBUS: the runtime reports an AccessViolation and the process exits with 134 before any
/// catch block runs). Nobody can truncate a sealed memfd (F_SEAL_SHRINK), so reading
/// the mapping is always safe while the mapping lives. The bytes are copied in the kernel
/// (sendfile into the memfd) and the source's fstat is compared before and after, so a snapshot is
/// never a mix of two versions.
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed class MemfdSnapshot : IDisposable
{
    private const MemfdSeals ContentSeals = MemfdSeals.F_SEAL_SHRINK | MemfdSeals.F_SEAL_GROW | MemfdSeals.F_SEAL_WRITE;

    private readonly SafeMappingHandle? _mapping;

    private MemfdSnapshot(SafeMappingHandle? mapping, SafeFileHandle? descriptor, long length)
    {
        _mapping = mapping;
        Descriptor = descriptor;
        Length = length;
    }

    public long Length { get; }

    /// <summary>The sealed memfd, kept only when the snapshot may be sent with sendfile.</summary>
    public SafeFileHandle? Descriptor { get; }

    /// <summary>The bytes; valid while the owning cache entry is referenced.</summary>
    public ReadOnlySpan<byte> Span => _mapping is null ? default : _mapping.DangerousGetSpan();

    /// <summary>Copies <paramref name="source"/>; null when it changed during the copy or a syscall failed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static MemfdSnapshot? TryCreate(SafeFileHandle source, in FileStatus before, string name, bool keepDescriptor)
    {
        var memfd = Interop.MemfdCreate(name, out _);
        if (memfd.IsInvalid)
        {
            return null;
        }

        SafeMappingHandle? mapping = null;
        try
        {
            long offset = 0;
            while (offset < before.Size)
            {
                var copied = Interop.SendFile(memfd, source, ref offset, before.Size - offset, out var errno);
                if (copied <= 0 && errno != Errno.EINTR)
                {
                    // 0: the file ended early (truncated meanwhile); <0: the kernel refused.
                    return Fail();
                }
            }

            // A write during the copy would have changed size or mtime: never keep a mix.
            if (Interop.FStat(source, out var after) != Errno.None
                || after.Size != before.Size || after.MTimeSeconds != before.MTimeSeconds
                || after.MTimeNanoseconds != before.MTimeNanoseconds || after.Inode != before.Inode)
            {
                return Fail();
            }

            if (Interop.AddSeals(memfd, ContentSeals) != Errno.None || Interop.AddSeals(memfd, MemfdSeals.F_SEAL_SEAL) != Errno.None)
            {
                return Fail();
            }

            if (before.Size > 0)
            {
                var address = Interop.MapReadOnly(memfd, before.Size, out _);
                if (address == 0)
                {
                    return Fail();
                }

                mapping = new SafeMappingHandle(address, before.Size);
            }

            if (!keepDescriptor)
            {
                // The mapping keeps the memory alive; one descriptor fewer per entry.
                memfd.Dispose();
            }

            return new MemfdSnapshot(mapping, keepDescriptor ? memfd : null, before.Size);
        }
        catch
        {
            mapping?.Dispose();
            memfd.Dispose();
            throw;
        }

        MemfdSnapshot? Fail()
        {
            mapping?.Dispose();
            memfd.Dispose();
            return null;
        }
    }

    public void Dispose()
    {
        _mapping?.Dispose();
        Descriptor?.Dispose();
    }
}

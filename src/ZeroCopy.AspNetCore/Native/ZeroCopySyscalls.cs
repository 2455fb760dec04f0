using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

/// <summary>
/// The syscalls of the zero-copy engines, behind one seam so tests can inject kernel behaviour
/// (EINTR/EAGAIN storms, EINVAL from a file system without sendfile) without mocking the kernel
/// for everything else.
/// </summary>
[SupportedOSPlatform("linux")]
internal unsafe class ZeroCopySyscalls
{
    public static readonly ZeroCopySyscalls Linux = new();

    public virtual long SendFile(SafeHandle socket, SafeHandle file, ref long offset, long count, out Errno errno)
        => Interop.SendFile(socket, file, ref offset, count, out errno);

    public virtual long SpliceFromFile(SafeHandle file, ref long offset, SafeHandle pipeWrite, long length, SpliceFlags flags, out Errno errno)
        => Interop.SpliceFromFile(file, ref offset, pipeWrite, length, flags, out errno);

    public virtual long Send(SafeHandle socket, ReadOnlySpan<byte> bytes, SendFlags flags, out Errno errno)
        => Interop.Send(socket, bytes, flags, out errno);

    public virtual long SpliceToSocket(SafeHandle pipeRead, SafeHandle socket, long length, SpliceFlags flags, out Errno errno)
        => Interop.SpliceToSocket(pipeRead, socket, length, flags, out errno);

    public virtual long Receive(SafeHandle socket, Span<byte> buffer, out Errno errno)
        => Interop.Receive(socket, buffer, out errno);

    public virtual long SendGather(SafeHandle socket, IoVec* vectors, int count, SendFlags flags, out Errno errno)
        => Interop.SendGather(socket, vectors, count, flags, out errno);

    /// <summary>cachestat(2): pages of the byte range in the page cache (the disk-offload probe).</summary>
    public virtual long CacheStat(SafeHandle file, long offset, long length, out long cachedPages, out Errno errno)
        => Interop.CacheStat(file, offset, length, out cachedPages, out errno);

    /// <summary>preadv2(2) of one byte with RWF_NOWAIT: the fallback probe where cachestat is unavailable.</summary>
    public virtual long ReadOneNoWait(SafeHandle file, long offset, out Errno errno)
        => Interop.ReadOneNoWait(file, offset, out errno);

    /// <summary>
    /// A disk worker's call: brings <paramref name="file"/>'s bytes [<paramref name="offset"/>,
    /// <paramref name="offset"/> + <paramref name="count"/>) into the page cache with sendfile(2) into
    /// <paramref name="sink"/> (/dev/null), which returns only once the pages are read (splicing from
    /// a file waits for each page to be up to date: mm/filemap.c, filemap_splice_read) and copies
    /// nothing to user memory. Stops early at end of file; EINTR is retried.
    /// </summary>
    /// <returns><see cref="Errno.None"/>, or the error of the sendfile call that failed.</returns>
    public virtual Errno Warm(SafeHandle sink, SafeHandle file, long offset, long count)
    {
        while (count > 0)
        {
            var read = Interop.SendFile(sink, file, ref offset, count, out var errno);
            if (read > 0)
            {
                count -= read;
            }
            else if (read == 0)
            {
                return Errno.None;
            }
            else if (errno != Errno.EINTR)
            {
                return errno;
            }
        }

        return Errno.None;
    }
}

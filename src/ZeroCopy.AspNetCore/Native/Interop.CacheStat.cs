using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

/// <summary>preadv2(2) flags (include/uapi/linux/fs.h).</summary>
[Flags]
internal enum ReadWriteFlags
{
    None = 0,

    /// <summary>Fail with EAGAIN instead of waiting for the disk (Linux 4.14+).</summary>
    RWF_NOWAIT = 0x08,
}

internal static unsafe partial class Interop
{
    // cachestat is 451 in arch/x86/entry/syscalls/syscall_64.tbl ("451 common cachestat") and in
    // include/uapi/asm-generic/unistd.h, the table arm64 uses (__NR_cachestat 451).
    private const nint SYS_cachestat = 451;

    /// <summary>struct cachestat_range (include/uapi/linux/mman.h): <c>len</c> 0 means "to the end of the file".</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct CacheStatRange
    {
        public ulong Offset;
        public ulong Length;
    }

    /// <summary>struct cachestat (include/uapi/linux/mman.h); only <c>nr_cache</c> is read.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct CacheStatResult
    {
        public ulong Cached;
        public ulong Dirty;
        public ulong Writeback;
        public ulong Evicted;
        public ulong RecentlyEvicted;
    }

    // glibc has no cachestat wrapper up to 2.36 (Debian 12): without one this goes through
    // syscall(2), with integer and pointer arguments only (see Interop.Open.cs for why that is safe
    // for the variadic syscall()).
    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    private static partial nint SyscallCacheStat(nint number, SafeHandle fd, CacheStatRange* range, CacheStatResult* result, nuint flags);

    [LibraryImport(Libc, EntryPoint = "preadv2", SetLastError = true)]
    private static partial nint PReadV2Raw(SafeHandle fd, IoVec* vectors, int count, long offset, ReadWriteFlags flags);

    /// <summary>
    /// A libc wrapper of cachestat (<c>int cachestat(unsigned int fd, struct cachestat_range *,
    /// struct cachestat *, unsigned int flags)</c>), preferred over the raw syscall number when the
    /// libc has one. Its own class, so looking it up happens on the first probe, not on the first use
    /// of <see cref="Interop"/>.
    /// </summary>
    private static class CacheStatExport
    {
        public static readonly delegate* unmanaged<int, CacheStatRange*, CacheStatResult*, uint, int> Function = Find();

        private static delegate* unmanaged<int, CacheStatRange*, CacheStatResult*, uint, int> Find()
            => NativeLibrary.TryLoad("libc.so.6", typeof(Interop).Assembly, null, out var libc) && NativeLibrary.TryGetExport(libc, "cachestat", out var export)
                ? (delegate* unmanaged<int, CacheStatRange*, CacheStatResult*, uint, int>)export
                : null;
    }

    /// <summary>
    /// cachestat(2) (Linux 6.5+): how many pages of <paramref name="file"/>'s bytes
    /// [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="length"/>) are in the
    /// page cache, without reading or mapping anything. Pages past the end of the file are not
    /// counted. Returns 0 or -1 with errno (ENOSYS before 6.5; EPERM from a seccomp filter that does
    /// not know the call; EOPNOTSUPP for hugetlbfs). EINTR is not possible (it does not sleep).
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static long CacheStat(SafeHandle file, long offset, long length, out long cachedPages, out Errno errno)
    {
        var range = new CacheStatRange { Offset = (ulong)offset, Length = (ulong)length };
        CacheStatResult result = default;
        long status;
        var function = CacheStatExport.Function;
        if (function is not null)
        {
            var added = false;
            file.DangerousAddRef(ref added);
            try
            {
                Marshal.SetLastSystemError(0);
                status = function((int)file.DangerousGetHandle(), &range, &result, 0);
                errno = status < 0 ? (Errno)Marshal.GetLastSystemError() : Errno.None;
            }
            finally
            {
                file.DangerousRelease();
            }
        }
        else
        {
            status = SyscallCacheStat(SYS_cachestat, file, &range, &result, 0);
            errno = status < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
        }

        cachedPages = status < 0 ? 0 : (long)result.Cached;
        return status;
    }

    /// <summary>
    /// preadv2(2) of one byte at <paramref name="offset"/> with RWF_NOWAIT (Linux 4.14+): 1 when
    /// that byte's page is cached, -1 with EAGAIN when reading it would wait for the disk, 0 at end
    /// of file or from Linux 5.9/5.10, which may return 0 instead of EAGAIN (readv(2), BUGS);
    /// EOPNOTSUPP where the file system cannot read without waiting. EINTR is returned, not retried.
    /// </summary>
    [SupportedOSPlatform("linux")]
    internal static long ReadOneNoWait(SafeHandle file, long offset, out Errno errno)
    {
        byte one;
        var vector = new IoVec { Base = &one, Length = 1 };
        var read = (long)PReadV2Raw(file, &vector, 1, offset, ReadWriteFlags.RWF_NOWAIT);
        errno = read < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
        return read;
    }
}

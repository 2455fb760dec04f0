using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Transport.EventLoop;

/// <summary>
/// Answers "are a file's bytes [offset, offset + length) all in the page cache?" before a loop
/// sends them: sendfile(2) and splice(2) block the calling thread on a disk read however
/// non-blocking the socket is (docs/design/event-loop-engine.md §4, facts 1 and 2). Shared by the
/// loops of one transport; thread-safe.
/// </summary>
/// <remarks>
/// <para>
/// cachestat(2) (Linux 6.5+) counts the range's cached pages without reading or mapping anything.
/// It also counts pages whose read is still in flight, so "cached" can still mean a short wait; the
/// connection's time check notices that.
/// </para>
/// <para>
/// Where cachestat is missing (ENOSYS), filtered (EPERM from seccomp) or refused (EOPNOTSUPP), the
/// fallback reads one byte with preadv2(RWF_NOWAIT) at the range's first and last page: EAGAIN means
/// not cached. Pages between those two are not seen (the time check covers them), and on Linux 5.9
/// and 5.10 a miss may read as 0 instead of EAGAIN (readv(2), BUGS): 0 is impossible for a byte
/// inside the file, so it counts as "not cached" too, which costs at most an unneeded warm. Where
/// neither probe can answer (EOPNOTSUPP from a file system without FMODE_NOWAIT), the answer is
/// "cached": the transfer runs on the loop as it would without the probe.
/// </para>
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed class PageCacheProbe(ZeroCopySyscalls syscalls, ILogger logger)
{
    private static readonly long s_pageSize = Environment.SystemPageSize;

    // Set once when cachestat turns out to be unavailable: every later probe goes to the fallback.
    private volatile bool _cacheStatUnavailable;

    /// <summary>True when every page of [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="length"/>) is cached (or no probe can tell).</summary>
    public bool IsCached(SafeHandle file, long offset, long length)
    {
        if (length <= 0)
        {
            return true;
        }

        if (!_cacheStatUnavailable)
        {
            if (syscalls.CacheStat(file, offset, length, out var cachedPages, out var errno) >= 0)
            {
                var first = offset / s_pageSize;
                var last = (offset + length - 1) / s_pageSize;
                return cachedPages >= last - first + 1;
            }

            if (errno is not (Errno.ENOSYS or Errno.EPERM or Errno.EOPNOTSUPP))
            {
                // EBADF, ESPIPE, EINVAL: nothing a probe can say of this descriptor; the transfer
                // itself reports what is wrong with it.
                return true;
            }

            if (!_cacheStatUnavailable)
            {
                _cacheStatUnavailable = true;
                TransportLog.CacheProbeUnavailable(logger, errno.ToString(), errno.Message());
            }
        }

        return IsPageCached(file, offset) && ((offset + length - 1) / s_pageSize == offset / s_pageSize || IsPageCached(file, offset + length - 1));
    }

    private bool IsPageCached(SafeHandle file, long offset)
    {
        long read;
        Errno errno;
        do
        {
            read = syscalls.ReadOneNoWait(file, offset, out errno);
        }
        while (read < 0 && errno == Errno.EINTR);

        // 1: cached. EAGAIN: not cached. 0: Linux 5.9/5.10's miss (or a file that shrank). Anything
        // else (EOPNOTSUPP, EINVAL before Linux 4.14): cannot tell.
        return read > 0 || (read < 0 && errno != Errno.EAGAIN);
    }
}

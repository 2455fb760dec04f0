using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>What the seam does with one call.</summary>
internal readonly record struct Injection(Errno Errno, long MaxCount)
{
    /// <summary>The real syscall, unchanged.</summary>
    public static readonly Injection Pass = new(Errno.None, long.MaxValue);

    public static Injection Fail(Errno errno) => new(errno, 0);

    /// <summary>The real syscall asked for at most <paramref name="count"/> bytes: a short transfer.</summary>
    public static Injection Short(long count) => new(Errno.None, count);

    /// <summary>A script: the first <paramref name="count"/> calls fail with <paramref name="errno"/>, then the kernel answers.</summary>
    public static Func<long, Injection> FirstCallsFail(int count, Errno errno) => n => n < count ? Fail(errno) : Pass;
}

/// <summary>
/// The test suite's fault-injecting syscall layer. The kernel with scripted answers: for the n-th call of each syscall (counted per syscall, from
/// 0) a script says pass, fail with an errno without calling the kernel, or call the kernel with a
/// smaller count (a short transfer, which the kernel may legitimately return anyway). Counts calls
/// and injections.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class ScriptedSyscalls : ZeroCopySyscalls
{
    private readonly Func<long, Injection> _sendFile;
    private readonly Func<long, Injection> _spliceFromFile;
    private readonly Func<long, Injection> _spliceToSocket;
    private long _sendFileCalls;
    private long _spliceFromFileCalls;
    private long _spliceToSocketCalls;
    private long _injectedErrors;
    private long _injectedEintr;
    private long _injectedEagain;
    private long _injectedShort;
    private long _cacheStatCalls;
    private long _warmCalls;

    public ScriptedSyscalls(Func<long, Injection>? sendFile = null, Func<long, Injection>? spliceFromFile = null, Func<long, Injection>? spliceToSocket = null)
    {
        _sendFile = sendFile ?? (_ => Injection.Pass);
        _spliceFromFile = spliceFromFile ?? (_ => Injection.Pass);
        _spliceToSocket = spliceToSocket ?? (_ => Injection.Pass);
    }

    public long SendFileCalls => Interlocked.Read(ref _sendFileCalls);

    public long SpliceFromFileCalls => Interlocked.Read(ref _spliceFromFileCalls);

    public long SpliceToSocketCalls => Interlocked.Read(ref _spliceToSocketCalls);

    public long InjectedErrors => Interlocked.Read(ref _injectedErrors);

    public long InjectedEintr => Interlocked.Read(ref _injectedEintr);

    public long InjectedEagain => Interlocked.Read(ref _injectedEagain);

    public long InjectedShort => Interlocked.Read(ref _injectedShort);

    /// <summary>
    /// Scripted page-cache residency, by the file's path: true means "not in the page cache" (the
    /// probes say so: cachestat counts 0 pages, preadv2(RWF_NOWAIT) fails with EAGAIN). When set,
    /// every other file reads as fully cached without asking the kernel, so what is offloaded is
    /// exactly what the script says. Null: the kernel answers.
    /// </summary>
    public Func<string, bool>? IsCold { get; init; }

    /// <summary>When set, every cachestat fails with this errno without calling the kernel (a kernel before 6.5: ENOSYS).</summary>
    public Errno CacheStatFails { get; init; }

    /// <summary>Time a sendfile call from the file (by path) spends before the kernel call: a disk read on the calling thread.</summary>
    public Func<string, TimeSpan>? SendFileDelay { get; init; }

    /// <summary>Every disk worker's warm waits for this (at most 30 s) before reading.</summary>
    public TaskCompletionSource? WarmGate { get; init; }

    /// <summary>Time every warm takes before it reads (a slow disk).</summary>
    public TimeSpan WarmDelay { get; init; }

    /// <summary>Completes when the first warm starts (its argument: the chunk's offset).</summary>
    public TaskCompletionSource<long> WarmEntered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the first delayed sendfile starts.</summary>
    public TaskCompletionSource SendFileDelayEntered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public long CacheStatCalls => Interlocked.Read(ref _cacheStatCalls);

    public long WarmCalls => Interlocked.Read(ref _warmCalls);

    /// <summary>
    /// The storm: every other call fails with EINTR; of the others, every 8th starts a burst of 3
    /// EAGAIN (on the calls where the kernel can say EAGAIN: <paramref name="eagain"/>), and every
    /// 3rd transfers at most 1 + (n mod 64 KiB) bytes.
    /// </summary>
    public static Func<long, Injection> Storm(bool eagain) => n =>
    {
        if (n % 2 == 1)
        {
            return Injection.Fail(Errno.EINTR);
        }

        var k = n / 2;
        if (eagain && k % 8 is 5 or 6 or 7)
        {
            return Injection.Fail(Errno.EAGAIN);
        }

        return k % 3 == 0 ? Injection.Short(1 + (k % 65536)) : Injection.Pass;
    };

    public override long SendFile(SafeHandle socket, SafeHandle file, ref long offset, long count, out Errno errno)
    {
        if (SendFileDelay is { } delay && delay(PathOf(file)) is { Ticks: > 0 } wait)
        {
            SendFileDelayEntered.TrySetResult();
            // The simulated disk read: this thread is blocked, as sendfile blocks on a cold page.
            Thread.Sleep(wait);
        }

        var injection = _sendFile(Interlocked.Increment(ref _sendFileCalls) - 1);
        return Apply(injection, count, out errno) is { } fake ? fake : base.SendFile(socket, file, ref offset, Math.Min(count, injection.MaxCount), out errno);
    }

    public override long SpliceFromFile(SafeHandle file, ref long offset, SafeHandle pipeWrite, long length, SpliceFlags flags, out Errno errno)
    {
        var injection = _spliceFromFile(Interlocked.Increment(ref _spliceFromFileCalls) - 1);
        return Apply(injection, length, out errno) is { } fake ? fake : base.SpliceFromFile(file, ref offset, pipeWrite, Math.Min(length, injection.MaxCount), flags, out errno);
    }

    public override long SpliceToSocket(SafeHandle pipeRead, SafeHandle socket, long length, SpliceFlags flags, out Errno errno)
    {
        var injection = _spliceToSocket(Interlocked.Increment(ref _spliceToSocketCalls) - 1);
        return Apply(injection, length, out errno) is { } fake ? fake : base.SpliceToSocket(pipeRead, socket, Math.Min(length, injection.MaxCount), flags, out errno);
    }

    public override long CacheStat(SafeHandle file, long offset, long length, out long cachedPages, out Errno errno)
    {
        Interlocked.Increment(ref _cacheStatCalls);
        if (CacheStatFails != Errno.None)
        {
            cachedPages = 0;
            errno = CacheStatFails;
            return -1;
        }

        if (IsCold is not { } isCold)
        {
            return base.CacheStat(file, offset, length, out cachedPages, out errno);
        }

        errno = Errno.None;
        var pageSize = Environment.SystemPageSize;
        cachedPages = isCold(PathOf(file)) ? 0 : ((offset + length - 1) / pageSize) - (offset / pageSize) + 1;
        return 0;
    }

    public override long ReadOneNoWait(SafeHandle file, long offset, out Errno errno)
    {
        if (IsCold is { } isCold && isCold(PathOf(file)))
        {
            errno = Errno.EAGAIN;
            return -1;
        }

        return base.ReadOneNoWait(file, offset, out errno);
    }

    public override Errno Warm(SafeHandle sink, SafeHandle file, long offset, long count)
    {
        Interlocked.Increment(ref _warmCalls);
        WarmEntered.TrySetResult(offset);
        if (WarmGate is { } gate && !gate.Task.Wait(TimeSpan.FromSeconds(30)))
        {
            return Errno.ETIMEDOUT;
        }

        if (WarmDelay > TimeSpan.Zero)
        {
            // The simulated disk read, on the worker's thread.
            Thread.Sleep(WarmDelay);
        }

        return base.Warm(sink, file, offset, count);
    }

    /// <summary>The path a descriptor refers to (/proc/self/fd), for scripts keyed by file.</summary>
    private static string PathOf(SafeHandle file)
        => new FileInfo("/proc/self/fd/" + file.DangerousGetHandle().ToString(System.Globalization.CultureInfo.InvariantCulture)).LinkTarget ?? "";

    /// <returns>-1 for an injected failure (errno set); null to call the kernel.</returns>
    private long? Apply(Injection injection, long count, out Errno errno)
    {
        errno = Errno.None;
        if (injection.Errno != Errno.None)
        {
            Interlocked.Increment(ref _injectedErrors);
            if (injection.Errno == Errno.EINTR)
            {
                Interlocked.Increment(ref _injectedEintr);
            }
            else if (injection.Errno == Errno.EAGAIN)
            {
                Interlocked.Increment(ref _injectedEagain);
            }

            errno = injection.Errno;
            return -1;
        }

        if (injection.MaxCount < count)
        {
            Interlocked.Increment(ref _injectedShort);
        }

        return null;
    }

    public override string ToString()
        => $"sendfile calls {SendFileCalls}, splice(file) calls {SpliceFromFileCalls}, splice(socket) calls {SpliceToSocketCalls}, injected EINTR {InjectedEintr}, EAGAIN {InjectedEagain}, other errors {InjectedErrors - InjectedEintr - InjectedEagain}, short transfers {InjectedShort}";
}

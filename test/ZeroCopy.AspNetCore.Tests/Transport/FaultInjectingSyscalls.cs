using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Tests.Transport;

/// <summary>
/// The kernel, with injected answers: the first N calls of each syscall fail with the configured
/// errno, then the real syscall runs. Counts every call.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class FaultInjectingSyscalls : ZeroCopySyscalls
{
    private int _sendFileFaults;
    private int _spliceFromFileFaults;
    private int _spliceToSocketFaults;

    public Errno SendFileErrno { get; init; } = Errno.EINVAL;

    public Errno SpliceFromFileErrno { get; init; } = Errno.EINVAL;

    public Errno SpliceToSocketErrno { get; init; } = Errno.EAGAIN;

    public int SendFileFaults { init => _sendFileFaults = value; }

    public int SpliceFromFileFaults { init => _spliceFromFileFaults = value; }

    public int SpliceToSocketFaults { init => _spliceToSocketFaults = value; }

    public int SendFileCalls;
    public int SpliceFromFileCalls;
    public int SpliceToSocketCalls;

    public override long SendFile(SafeHandle socket, SafeHandle file, ref long offset, long count, out Errno errno)
    {
        Interlocked.Increment(ref SendFileCalls);
        if (Interlocked.Decrement(ref _sendFileFaults) >= 0)
        {
            errno = SendFileErrno;
            return -1;
        }

        return base.SendFile(socket, file, ref offset, count, out errno);
    }

    public override long SpliceFromFile(SafeHandle file, ref long offset, SafeHandle pipeWrite, long length, SpliceFlags flags, out Errno errno)
    {
        Interlocked.Increment(ref SpliceFromFileCalls);
        if (Interlocked.Decrement(ref _spliceFromFileFaults) >= 0)
        {
            errno = SpliceFromFileErrno;
            return -1;
        }

        return base.SpliceFromFile(file, ref offset, pipeWrite, length, flags, out errno);
    }

    public override long SpliceToSocket(SafeHandle pipeRead, SafeHandle socket, long length, SpliceFlags flags, out Errno errno)
    {
        Interlocked.Increment(ref SpliceToSocketCalls);
        if (Interlocked.Decrement(ref _spliceToSocketFaults) >= 0)
        {
            errno = SpliceToSocketErrno;
            return -1;
        }

        return base.SpliceToSocket(pipeRead, socket, length, flags, out errno);
    }
}

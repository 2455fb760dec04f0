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
}

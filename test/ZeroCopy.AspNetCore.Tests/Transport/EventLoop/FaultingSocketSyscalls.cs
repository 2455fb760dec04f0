using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Text;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Tests.Transport.EventLoop;

/// <summary>
/// The EventLoop engine's socket syscalls with a bug planted: <see cref="SendGather"/> throws when
/// the bytes it is asked to send contain <see cref="SendMarker"/>, <see cref="Receive"/> throws
/// when the bytes it received contain <see cref="ReceiveMarker"/>. Only the connection whose
/// request or response carries a marker meets the exception; every other call is the kernel's.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed unsafe class FaultingSocketSyscalls : ZeroCopySyscalls
{
    /// <summary>A response body with these bytes makes the send throw.</summary>
    public const string SendMarker = "FAULT-ON-SEND";

    /// <summary>A request with these bytes makes the receive throw.</summary>
    public const string ReceiveMarker = "X-Fault: on-receive";

    private static readonly byte[] s_sendMarker = Encoding.ASCII.GetBytes(SendMarker);
    private static readonly byte[] s_receiveMarker = Encoding.ASCII.GetBytes(ReceiveMarker);
    private int _sendFaults;
    private int _receiveFaults;

    /// <summary>Exceptions thrown from <see cref="SendGather"/> so far.</summary>
    public int SendFaults => Volatile.Read(ref _sendFaults);

    /// <summary>Exceptions thrown from <see cref="Receive"/> so far.</summary>
    public int ReceiveFaults => Volatile.Read(ref _receiveFaults);

    public override long SendGather(SafeHandle socket, IoVec* vectors, int count, SendFlags flags, out Errno errno)
    {
        for (var i = 0; i < count; i++)
        {
            if (new ReadOnlySpan<byte>(vectors[i].Base, checked((int)vectors[i].Length)).IndexOf(s_sendMarker) >= 0)
            {
                Interlocked.Increment(ref _sendFaults);
                throw new InvalidOperationException("Injected fault: sendmsg threw on the event loop.");
            }
        }

        return base.SendGather(socket, vectors, count, flags, out errno);
    }

    public override long Receive(SafeHandle socket, Span<byte> buffer, out Errno errno)
    {
        var received = base.Receive(socket, buffer, out errno);
        if (received > 0 && buffer[..(int)received].IndexOf(s_receiveMarker) >= 0)
        {
            Interlocked.Increment(ref _receiveFaults);
            throw new InvalidOperationException("Injected fault: recv threw on the event loop.");
        }

        return received;
    }
}

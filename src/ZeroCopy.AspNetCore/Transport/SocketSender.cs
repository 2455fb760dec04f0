using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>
/// Sends a <see cref="ReadOnlySequence{T}"/> with one gather write (sendmsg) when it has several
/// segments. Memory comes from the connection's pool, whose blocks are arrays.
/// </summary>
internal sealed class SocketSender : AwaitableSocketEventArgs
{
    private readonly List<ArraySegment<byte>> _segments = [];

    public SocketSender(PipeScheduler completionScheduler)
        : base(completionScheduler)
    {
    }

    public ValueTask<SocketOperationResult> SendAsync(Socket socket, in ReadOnlySequence<byte> buffers)
    {
        if (buffers.IsSingleSegment)
        {
            return SendAsync(socket, buffers.First);
        }

        if (BufferList is null)
        {
            // Clears a previous single buffer (byte[] or Memory): both cannot be set at once.
            SetBuffer(null, 0, 0);
        }

        _segments.Clear();
        foreach (var segment in buffers)
        {
            _segments.Add(AsArraySegment(segment));
        }

        BufferList = _segments;
        return Result(socket.SendAsync(this));
    }

    public ValueTask<SocketOperationResult> SendAsync(Socket socket, ReadOnlyMemory<byte> memory)
    {
        if (BufferList is not null)
        {
            BufferList = null;
            _segments.Clear();
        }

        SetBuffer(MemoryMarshal.AsMemory(memory));
        return Result(socket.SendAsync(this));
    }

    private static ArraySegment<byte> AsArraySegment(ReadOnlyMemory<byte> memory)
        => MemoryMarshal.TryGetArray(memory, out var segment)
            ? segment
            : throw new InvalidOperationException("Output memory must be array-backed.");
}

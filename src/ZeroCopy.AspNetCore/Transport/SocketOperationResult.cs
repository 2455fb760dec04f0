using System.Net.Sockets;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>Outcome of a socket operation without throwing on the hot path.</summary>
internal readonly struct SocketOperationResult
{
    public SocketOperationResult(int bytesTransferred)
    {
        BytesTransferred = bytesTransferred;
        Error = null;
    }

    public SocketOperationResult(SocketException error)
    {
        BytesTransferred = 0;
        Error = error;
    }

    public int BytesTransferred { get; }

    public SocketException? Error { get; }

    public bool HasError => Error is not null;
}

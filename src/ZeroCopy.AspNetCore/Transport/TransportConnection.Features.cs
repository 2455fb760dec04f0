using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>The features a Kestrel connection expects, implemented by the connection itself.</summary>
internal abstract partial class TransportConnection :
    IConnectionIdFeature,
    IConnectionTransportFeature,
    IConnectionItemsFeature,
    IMemoryPoolFeature,
    IConnectionLifetimeFeature,
    IConnectionSocketFeature,
    IZeroCopyConnectionFeature
{
    /// <param name="offersRegions">Whether file regions can be sent (the zero-copy feature is offered).</param>
    private protected void InitializeFeatures(bool offersRegions)
    {
        _features.Set<IConnectionIdFeature>(this);
        _features.Set<IConnectionTransportFeature>(this);
        _features.Set<IConnectionItemsFeature>(this);
        _features.Set<IMemoryPoolFeature>(this);
        _features.Set<IConnectionLifetimeFeature>(this);
        _features.Set<IConnectionSocketFeature>(this);
        if (offersRegions)
        {
            _features.Set<IZeroCopyConnectionFeature>(this);
        }
    }

    // Reflects Transport as it is now: TLS and connection middleware replace it.
    IDuplexPipe IConnectionTransportFeature.Transport
    {
        get => Transport;
        set => Transport = value;
    }

    PipeWriter IZeroCopyConnectionFeature.Output => _outputWriter;

    void IZeroCopyConnectionFeature.BeginRegion(FileRegion region, long unflushed) => _outputWriter.BeginRegion(region, unflushed);

    void IZeroCopyConnectionFeature.Abort(string reason) => AbortForRegion(reason);

    bool IZeroCopyConnectionFeature.IsClosed => IsShutDown;

    // No IConnectionEndPointFeature: Kestrel's socket transport does not offer one either, and
    // ConnectionContext.LocalEndPoint/RemoteEndPoint carry the same information.

    MemoryPool<byte> IMemoryPoolFeature.MemoryPool => MemoryPool;

    // The EventLoop engine owns the descriptor: its Socket is for socket options only (I/O through
    // it, or making it blocking, is not supported there).
    Socket IConnectionSocketFeature.Socket => _socket;
}

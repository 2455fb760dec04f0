using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace ZeroCopy.AspNetCore.Transport.EventLoop;

/// <summary>The features a Kestrel connection expects, implemented by the connection itself.</summary>
internal sealed partial class EventLoopConnection :
    IConnectionIdFeature,
    IConnectionTransportFeature,
    IConnectionItemsFeature,
    IMemoryPoolFeature,
    IConnectionLifetimeFeature,
    IConnectionSocketFeature,
    IZeroCopyConnectionFeature
{
    private void InitializeFeatures()
    {
        _features.Set<IConnectionIdFeature>(this);
        _features.Set<IConnectionTransportFeature>(this);
        _features.Set<IConnectionItemsFeature>(this);
        _features.Set<IMemoryPoolFeature>(this);
        _features.Set<IConnectionLifetimeFeature>(this);
        _features.Set<IConnectionSocketFeature>(this);
        _features.Set<IZeroCopyConnectionFeature>(this);
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

    MemoryPool<byte> IMemoryPoolFeature.MemoryPool => MemoryPool;

    // For socket options (getsockopt/setsockopt). The loop owns the descriptor: I/O through this
    // Socket, or making it blocking, is not supported.
    Socket IConnectionSocketFeature.Socket => _socket;
}

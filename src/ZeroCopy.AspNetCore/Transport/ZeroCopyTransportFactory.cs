using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>
/// Kestrel's entry into the zero-copy transport. Registered after Kestrel's socket transport, it is
/// asked first; it binds TCP (IPv4, IPv6, <c>localhost</c>) and Unix domain socket endpoints on
/// Linux and declines everything else (other OSes, file handles), which then go to Kestrel's
/// socket transport.
/// </summary>
internal sealed class ZeroCopyTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector, IDisposable
{
    private readonly ZeroCopyTransportOptions _options;
    private readonly SocketTransportOptions _socketOptions;
    private readonly ILogger _logger;
    private readonly IMemoryPoolFactory<byte>? _memoryPoolFactory;
    private readonly Lock _lock = new();
    private readonly List<IDisposable> _owned = [];
    private ConnectionSettings[]? _queues;

    public ZeroCopyTransportFactory(
        IOptions<ZeroCopyTransportOptions> options,
        IOptions<SocketTransportOptions> socketOptions,
        ILoggerFactory loggerFactory,
        IMemoryPoolFactory<byte>? memoryPoolFactory)
    {
        _options = options.Value;
        _socketOptions = socketOptions.Value;
        _logger = loggerFactory.CreateLogger(TransportLog.Category);
        _memoryPoolFactory = memoryPoolFactory;
    }

    /// <summary>Descriptors the transport keeps open on purpose (pooled splice pipes), for leak checks.</summary>
    internal int CachedDescriptors => LinuxOnly.IsSupported && _queues is { Length: > 0 } queues && queues[0].Pipes is { } pipes ? pipes.Pooled * 2 : 0;

    public bool CanBind(EndPoint endpoint)
        => LinuxOnly.IsSupported && endpoint is IPEndPoint or UnixDomainSocketEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        var listener = new ZeroCopyConnectionListener(endpoint, _socketOptions, Queues(), _logger);
        listener.Bind();
        return new ValueTask<IConnectionListener>(listener);
    }

    /// <summary>I/O queues, memory pools and pipe options, created once and shared by all listeners.</summary>
    private ConnectionSettings[] Queues()
    {
        lock (_lock)
        {
            if (_queues is not null)
            {
                return _queues;
            }

            var monitor = new RegionRateMonitor();
            _owned.Add(monitor);
            SplicePipePool? pipes = null;
            ZeroCopySyscalls? syscalls = null;
            if (LinuxOnly.IsSupported)
            {
                pipes = new SplicePipePool(_options.SplicePipeSize, maxPooled: 256);
                _owned.Add(pipes);
                syscalls = _options.Syscalls ?? ZeroCopySyscalls.Linux;
            }

            // As Kestrel's socket transport: one memory pool and scheduler per I/O queue; with
            // IOQueueCount 0 (or inline scheduling) completions run on the thread pool or inline.
            var inline = _socketOptions.UnsafePreferInlineScheduling;
            var count = _socketOptions.IOQueueCount > 0 ? _socketOptions.IOQueueCount : 1;
            var maxRead = _socketOptions.MaxReadBufferSize ?? 0;
            var maxWrite = _socketOptions.MaxWriteBufferSize ?? 0;
            var applicationScheduler = inline ? PipeScheduler.Inline : PipeScheduler.ThreadPool;
            var queues = new ConnectionSettings[count];
            for (var i = 0; i < count; i++)
            {
                var pool = _memoryPoolFactory?.Create() ?? MemoryPool<byte>.Shared;
                if (!ReferenceEquals(pool, MemoryPool<byte>.Shared))
                {
                    _owned.Add(pool);
                }

                PipeScheduler transportScheduler = inline ? PipeScheduler.Inline : _socketOptions.IOQueueCount > 0 ? new IOQueue() : PipeScheduler.ThreadPool;
                queues[i] = new ConnectionSettings
                {
                    // Kestrel reads input on the thread pool; the socket side runs on the I/O queue.
                    InputOptions = new PipeOptions(pool, applicationScheduler, transportScheduler, maxRead, maxRead / 2, useSynchronizationContext: false),
                    OutputOptions = new PipeOptions(pool, transportScheduler, applicationScheduler, maxWrite, maxWrite / 2, useSynchronizationContext: false),
                    MemoryPool = pool,
                    WaitForDataBeforeAllocatingBuffer = _socketOptions.WaitForDataBeforeAllocatingBuffer,
                    MaxQueuedRegions = _options.MaxQueuedRegions,
                    FinOnError = _options.FinOnError,
                    NoDelay = _socketOptions.NoDelay,
                    // A region's caller waits until no more of it is unsent than Kestrel would
                    // have let a flush leave in the pipe.
                    RegionReleaseThreshold = maxWrite,
                    RateMonitor = monitor,
                    Syscalls = syscalls,
                    Pipes = pipes,
                };
            }

            return _queues = queues;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var owned in _owned)
            {
                owned.Dispose();
            }

            _owned.Clear();
        }
    }
}

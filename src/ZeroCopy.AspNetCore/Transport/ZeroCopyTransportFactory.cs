using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
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
    private readonly ZeroCopyMetrics? _metrics;
    private readonly IConnectionLane? _lane;
    private readonly Lock _lock = new();
    private readonly List<IDisposable> _owned = [];
    private ConnectionSettings[]? _queues;
    private EventLoop.EventLoopGroup? _loops;
    private RegionRateMonitor? _monitor;
    private SplicePipePool? _pipes;
    private EventLoop.PageCacheProbe? _cacheProbe;
    private EventLoop.DiskWorkers? _diskWorkers;

    public ZeroCopyTransportFactory(
        IOptions<ZeroCopyTransportOptions> options,
        IOptions<SocketTransportOptions> socketOptions,
        ILoggerFactory loggerFactory,
        IMemoryPoolFactory<byte>? memoryPoolFactory,
        ZeroCopyMetrics? metrics = null,
        IConnectionLane? lane = null)
    {
        _lane = lane;
        _options = options.Value;
        _socketOptions = socketOptions.Value;
        _logger = loggerFactory.CreateLogger(TransportLog.Category);
        _memoryPoolFactory = memoryPoolFactory;
        _metrics = metrics;
    }

    /// <summary>Descriptors the transport keeps open on purpose (pooled splice pipes), for leak checks.</summary>
    internal int CachedDescriptors => LinuxOnly.IsSupported ? (_pipes?.Pooled ?? 0) * 2 + (_diskWorkers?.OpenDescriptors ?? 0) : 0;

    public bool CanBind(EndPoint endpoint)
        => LinuxOnly.IsSupported && endpoint is IPEndPoint or UnixDomainSocketEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        Func<Socket, ConnectionContext> serve;
        if (UsesEventLoop)
        {
            var loops = Loops();
            serve = loops.Accept;
        }
        else
        {
            var queues = Queues();
            long next = 0;
            serve = socket =>
            {
                var settings = queues[(int)((ulong)Interlocked.Increment(ref next) % (ulong)queues.Length)];
                var connection = new ZeroCopyConnection(socket, settings, _logger);
                connection.Start();
                return connection;
            };
        }

        var listener = new ZeroCopyConnectionListener(endpoint, _socketOptions, serve, _logger);
        listener.Bind();
        return new ValueTask<IConnectionListener>(listener);
    }

    [SupportedOSPlatformGuard("linux")]
    private bool UsesEventLoop => LinuxOnly.IsSupported && _options.Engine == ZeroCopyTransportEngine.EventLoop;

    /// <summary>The EventLoop engine's loops, created once and shared by all listeners.</summary>
    [SupportedOSPlatform("linux")]
    private EventLoop.EventLoopGroup Loops()
    {
        lock (_lock)
        {
            if (_loops is not null)
            {
                return _loops;
            }

            if (_options.DiskOffload)
            {
                var syscalls = _options.Syscalls ?? ZeroCopySyscalls.Linux;
                _cacheProbe = new EventLoop.PageCacheProbe(syscalls, _logger);
                _diskWorkers = new EventLoop.DiskWorkers(Math.Max(1, _options.DiskWorkerCount ?? EventLoop.DiskWorkers.DefaultCount), syscalls, _metrics);
                _owned.Add(_diskWorkers);
            }

            var count = _options.EventLoopCount ?? Environment.ProcessorCount;
            _loops = new EventLoop.EventLoopGroup(count, loop => Settings(loop, Pool()), _logger);
            _owned.Add(_loops);
            _metrics?.TrackLoops(_loops);
            return _loops;
        }
    }

    private MemoryPool<byte> Pool()
    {
        // As Kestrel's socket transport: one memory pool per I/O queue (here: per loop).
        var pool = _memoryPoolFactory?.Create() ?? MemoryPool<byte>.Shared;
        if (!ReferenceEquals(pool, MemoryPool<byte>.Shared))
        {
            _owned.Add(pool);
        }

        return pool;
    }

    /// <summary>What the connections of one I/O queue or loop share; <paramref name="transportScheduler"/> runs the socket side of both pipes.</summary>
    private ConnectionSettings Settings(PipeScheduler transportScheduler, MemoryPool<byte> pool)
    {
        if (_monitor is null)
        {
            _monitor = new RegionRateMonitor();
            _owned.Add(_monitor);
            if (LinuxOnly.IsSupported)
            {
                _pipes = new SplicePipePool(_options.SplicePipeSize, maxPooled: 256);
                _owned.Add(_pipes);
            }
        }

        // Kestrel's side runs on the thread pool, or inline under UnsafePreferInlineScheduling.
        var applicationScheduler = _socketOptions.UnsafePreferInlineScheduling ? PipeScheduler.Inline : PipeScheduler.ThreadPool;
        var maxRead = _socketOptions.MaxReadBufferSize ?? 0;
        var maxWrite = _socketOptions.MaxWriteBufferSize ?? 0;
        return new ConnectionSettings
        {
            // Kestrel reads input on the application scheduler; the socket side runs on the transport's.
            InputOptions = new PipeOptions(pool, applicationScheduler, transportScheduler, maxRead, maxRead / 2, useSynchronizationContext: false),
            LaneInputOptions = _lane is null ? null : new PipeOptions(pool, PipeScheduler.Inline, transportScheduler, maxRead, maxRead / 2, useSynchronizationContext: false),
            OutputOptions = new PipeOptions(pool, transportScheduler, applicationScheduler, maxWrite, maxWrite / 2, useSynchronizationContext: false),
            MemoryPool = pool,
            WaitForDataBeforeAllocatingBuffer = _socketOptions.WaitForDataBeforeAllocatingBuffer,
            MaxQueuedRegions = _options.MaxQueuedRegions,
            FinOnError = _options.FinOnError,
            NoDelay = _socketOptions.NoDelay,
            // A region's caller waits until no more of it is unsent than Kestrel would have let a
            // flush leave in the pipe.
            RegionReleaseThreshold = maxWrite,
            RateMonitor = _monitor,
            Syscalls = LinuxOnly.IsSupported ? _options.Syscalls ?? ZeroCopySyscalls.Linux : null,
            Pipes = _pipes,
            CacheProbe = _cacheProbe,
            DiskWorkers = _diskWorkers,
            Lane = _lane,
        };
    }

    /// <summary>The Sockets engine's I/O queues, created once and shared by all listeners.</summary>
    private ConnectionSettings[] Queues()
    {
        lock (_lock)
        {
            if (_queues is not null)
            {
                return _queues;
            }

            // As Kestrel's socket transport: one memory pool and scheduler per I/O queue; with
            // IOQueueCount 0 (or inline scheduling) completions run on the thread pool or inline.
            var count = _socketOptions.IOQueueCount > 0 ? _socketOptions.IOQueueCount : 1;
            var queues = new ConnectionSettings[count];
            for (var i = 0; i < count; i++)
            {
                PipeScheduler transportScheduler = _socketOptions.UnsafePreferInlineScheduling ? PipeScheduler.Inline : _socketOptions.IOQueueCount > 0 ? new IOQueue() : PipeScheduler.ThreadPool;
                queues[i] = Settings(transportScheduler, Pool());
            }

            return _queues = queues;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_loops is not null)
            {
                _metrics?.UntrackLoops(_loops);
            }

            foreach (var owned in _owned)
            {
                owned.Dispose();
            }

            _owned.Clear();
        }
    }
}

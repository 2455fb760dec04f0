using System.Buffers;
using System.IO.Pipelines;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>What connections of one I/O queue share.</summary>
internal sealed class ConnectionSettings
{
    public required PipeOptions InputOptions { get; init; }

    public required PipeOptions OutputOptions { get; init; }

    public required MemoryPool<byte> MemoryPool { get; init; }

    public required bool WaitForDataBeforeAllocatingBuffer { get; init; }

    public required int MaxQueuedRegions { get; init; }

    /// <summary>Abort with FIN rather than RST (Kestrel's FinOnError switch).</summary>
    public required bool FinOnError { get; init; }

    public required bool NoDelay { get; init; }

    /// <summary>Unsent region bytes a waiting response may leave behind (MaxWriteBufferSize).</summary>
    public required long RegionReleaseThreshold { get; init; }

    public required RegionRateMonitor RateMonitor { get; init; }

    /// <summary>Null where the zero-copy engines do not exist (not Linux).</summary>
    public required ZeroCopySyscalls? Syscalls { get; init; }

    public required SplicePipePool? Pipes { get; init; }

    /// <summary>EventLoop engine with disk offload: asks whether a chunk is cached before a loop sends it; null skips the probe.</summary>
    public EventLoop.PageCacheProbe? CacheProbe { get; init; }

    /// <summary>EventLoop engine with disk offload: reads chunks that are not cached into the page cache, off the loop.</summary>
    public EventLoop.DiskWorkers? DiskWorkers { get; init; }

    /// <summary>Reads requests before Kestrel (the short-circuit lane); null for none.</summary>
    public IConnectionLane? Lane { get; init; }

    /// <summary>
    /// <see cref="InputOptions"/> for a connection with the lane: the reader's continuations run
    /// inline on the transport's thread, so the lane answers where the bytes arrived (no thread-pool
    /// hop); it hands Kestrel's reads to the thread pool itself.
    /// </summary>
    public PipeOptions? LaneInputOptions { get; init; }
}

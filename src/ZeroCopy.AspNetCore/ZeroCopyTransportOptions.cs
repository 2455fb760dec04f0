namespace ZeroCopy.AspNetCore;

/// <summary>
/// Options of the zero-copy Kestrel transport (<c>UseZeroCopyTransport</c>, also installed by
/// <c>AddZeroCopyStaticFiles</c>). The defaults are those of Kestrel's socket transport.
/// </summary>
public sealed class ZeroCopyTransportOptions
{
    /// <summary>The listen backlog.</summary>
    /// <remarks>Defaults to 512.</remarks>
    public int Backlog { get; set; } = 512;

    /// <summary>Disable Nagle's algorithm (TCP_NODELAY) on TCP connections.</summary>
    /// <remarks>Defaults to <see langword="true"/>.</remarks>
    public bool NoDelay { get; set; } = true;

    /// <summary>
    /// Bytes received but not yet read by Kestrel after which the transport stops reading from the
    /// socket. <see langword="null"/> or 0: no limit.
    /// </summary>
    /// <remarks>Defaults to 1 MiB.</remarks>
    public long? MaxReadBufferSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// Response bytes written by Kestrel but not yet sent after which Kestrel's flushes wait. File
    /// regions are not buffered and do not count. <see langword="null"/> or 0: no limit.
    /// </summary>
    /// <remarks>Defaults to 64 KiB.</remarks>
    public long? MaxWriteBufferSize { get; set; } = 64 * 1024;

    /// <summary>
    /// File regions (file bodies queued for sendfile/splice) one connection may have waiting before
    /// Kestrel's flushes wait; bounds the open files a pipelining client can pin.
    /// </summary>
    /// <remarks>Defaults to 16.</remarks>
    public int MaxQueuedRegions { get; set; } = 16;

    /// <summary>Number of I/O queues that schedule socket completions.</summary>
    /// <remarks>Defaults to the processor count, at most 16.</remarks>
    public int IOQueueCount { get; set; } = Transport.IOQueue.DefaultCount;

    /// <summary>Wait for data with a zero-byte receive before renting a receive buffer.</summary>
    /// <remarks>Defaults to <see langword="true"/>.</remarks>
    public bool WaitForDataBeforeAllocatingBuffer { get; set; } = true;

    /// <summary>Capacity requested for each splice pipe (F_SETPIPE_SZ); the kernel may grant less.</summary>
    /// <remarks>Defaults to 1 MiB.</remarks>
    public int SplicePipeSize { get; set; } = 1024 * 1024;

    /// <summary>Test seam: the syscalls of the zero-copy engines.</summary>
    internal Native.ZeroCopySyscalls? Syscalls { get; set; }
}

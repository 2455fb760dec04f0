namespace ZeroCopy.AspNetCore;

/// <summary>
/// Options of the zero-copy Kestrel transport (<c>UseZeroCopyTransport</c>, also installed by
/// <c>AddZeroCopyStaticFiles</c>) that Kestrel's socket transport does not have.
/// </summary>
/// <remarks>
/// Socket settings come from Kestrel's own <c>SocketTransportOptions</c>
/// (<c>builder.WebHost.UseSockets(o => ...)</c> or <c>services.Configure&lt;SocketTransportOptions&gt;</c>):
/// Backlog, NoDelay, MaxReadBufferSize, MaxWriteBufferSize, IOQueueCount,
/// WaitForDataBeforeAllocatingBuffer, UnsafePreferInlineScheduling and CreateBoundListenSocket apply
/// to this transport exactly as to Kestrel's, so swapping transports keeps an application's tuning.
/// </remarks>
public sealed class ZeroCopyTransportOptions
{
    /// <summary>
    /// The engine that moves bytes between the sockets and Kestrel. The <see cref="ZeroCopyTransportEngine.EventLoop"/>
    /// engine is Linux-only: other operating systems always use <see cref="ZeroCopyTransportEngine.Sockets"/>.
    /// </summary>
    /// <remarks>
    /// Defaults to <see cref="ZeroCopyTransportEngine.Sockets"/>. Also read from the configuration key
    /// <c>ZeroCopyStaticFiles:Transport:Engine</c> (so <c>ZeroCopyStaticFiles__Transport__Engine=Sockets</c>
    /// in the environment switches engines without a rebuild); a value set in code wins. Read once, when
    /// the server starts: a configuration reload does not change the engine of a running server.
    /// </remarks>
    public ZeroCopyTransportEngine Engine { get; set; } = ZeroCopyTransportEngine.Sockets;

    /// <summary>
    /// Loop threads of the <see cref="ZeroCopyTransportEngine.EventLoop"/> engine, each with its own epoll
    /// instance and its own connections; 1 or more when set. The Sockets engine ignores it.
    /// </summary>
    /// <remarks>
    /// Defaults to <see langword="null"/>: <see cref="Environment.ProcessorCount"/>. Also read from the
    /// configuration key <c>ZeroCopyStaticFiles:Transport:EventLoopCount</c> (a blank value is the default);
    /// a value set in code wins. Read once, when the server starts.
    /// </remarks>
    public int? EventLoopCount { get; set; }

    /// <summary>
    /// File regions (file bodies queued for sendfile/splice) one connection may have waiting before
    /// Kestrel's flushes wait; bounds the open files a pipelining client can pin.
    /// </summary>
    /// <remarks>Defaults to 16.</remarks>
    public int MaxQueuedRegions { get; set; } = 16;

    /// <summary>Capacity requested for each splice pipe (F_SETPIPE_SZ); the kernel may grant less.</summary>
    /// <remarks>Defaults to 1 MiB.</remarks>
    public int SplicePipeSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// Aborted connections end with FIN instead of RST, as Kestrel's socket transport does when the
    /// AppContext switch <c>Microsoft.AspNetCore.Server.Kestrel.FinOnError</c> is set (the default
    /// here is read from that switch).
    /// </summary>
    internal bool FinOnError { get; set; } = AppContext.TryGetSwitch("Microsoft.AspNetCore.Server.Kestrel.FinOnError", out var finOnError) && finOnError;

    /// <summary>
    /// Values under <c>ZeroCopyStaticFiles:Transport</c> that do not parse, reported with the
    /// validation errors when the options are first read.
    /// </summary>
    internal List<string> BindingErrors { get; } = [];

    /// <summary>Keys under <c>ZeroCopyStaticFiles:Transport</c> that the library does not know (reported as warnings).</summary>
    internal List<string> UnknownKeys { get; } = [];

    /// <summary>
    /// EventLoop engine: before each chunk of a file body the loop asks the page cache (cachestat(2),
    /// else preadv2(RWF_NOWAIT)) and hands chunks that are not cached to disk worker threads, so a
    /// disk read never stalls the loop's other connections. Internal until measured on real disks.
    /// </summary>
    /// <remarks>Defaults to <see langword="true"/>.</remarks>
    internal bool DiskOffload { get; set; } = true;

    /// <summary>Disk worker threads of the EventLoop engine (null: the processor count, clamped to 2..8).</summary>
    internal int? DiskWorkerCount { get; set; }

    /// <summary>Test seam: the syscalls of the zero-copy engines.</summary>
    internal Native.ZeroCopySyscalls? Syscalls { get; set; }
}

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

    /// <summary>Test seam: the syscalls of the zero-copy engines.</summary>
    internal Native.ZeroCopySyscalls? Syscalls { get; set; }
}

namespace ZeroCopy.AspNetCore;

/// <summary>
/// How the zero-copy transport moves bytes between its sockets and Kestrel
/// (<see cref="ZeroCopyTransportOptions.Engine"/>, configuration key
/// <c>ZeroCopyStaticFiles:Transport:Engine</c>).
/// </summary>
public enum ZeroCopyTransportEngine
{
    /// <summary>
    /// Built on <c>System.Net.Sockets</c>, as Kestrel's socket transport: socket completions arrive on
    /// the runtime's I/O thread and continue on the thread pool. Every operating system.
    /// </summary>
    Sockets = 0,

    /// <summary>
    /// Linux only: loop threads, each with its own epoll instance, own their connections and run
    /// receives, sends and file transfers themselves, without a hop to the thread pool between the
    /// kernel and Kestrel. On other operating systems the transport uses <see cref="Sockets"/>.
    /// </summary>
    EventLoop = 1,
}

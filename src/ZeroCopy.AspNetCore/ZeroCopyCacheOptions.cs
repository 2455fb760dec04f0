namespace ZeroCopy.AspNetCore;

/// <summary>
/// The hot-file cache (configuration section <c>ZeroCopyStaticFiles:Cache</c>): small hot files are
/// served from copies in slots of sealed memfd arenas, other hot files from descriptors kept open, so
/// a hit makes no open or stat.
/// </summary>
public sealed class ZeroCopyCacheOptions
{
    /// <summary>Use the cache (Linux, files of a <c>PhysicalFileProvider</c>).</summary>
    /// <remarks>Defaults to <see langword="true"/>.</remarks>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Files up to this size are copied into a slot of a memory arena (size classes: powers of two
    /// from 512 B up to this size rounded up to a power of two); larger ones keep an open descriptor.
    /// </summary>
    /// <remarks>Defaults to 1 MiB.</remarks>
    public long MaxFileBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Upper bound of the bytes of memory arenas reserved, slots used or free, per middleware (a slot
    /// is under twice its file's size above 256 B, and 512 B below).
    /// </summary>
    /// <remarks>Defaults to 256 MiB.</remarks>
    public long MaxTotalBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Upper bound of cached files (copies and open descriptors), per middleware.</summary>
    /// <remarks>Defaults to 10,000.</remarks>
    public int MaxEntries { get; set; } = 10_000;

    /// <summary>
    /// A file up to <see cref="MaxFileBytes"/> is copied into the cache on its N-th request (earlier
    /// ones are served from disk); a larger file keeps its descriptor from its first request,
    /// whatever this says. When the cache is at <see cref="MaxEntries"/> or its memory is taken, a
    /// file is admitted only in place of entries asked for less often than itself, so a crawler
    /// sweeping many files once each does not displace the files that are hit.
    /// </summary>
    /// <remarks>Defaults to 1: a copy costs about as much as the miss that makes it.</remarks>
    public int MinHits { get; set; } = 1;

    /// <summary>
    /// How long a cached file is served without checking the file on disk (inode, size,
    /// modification time), like nginx's <c>open_file_cache_valid</c>. A file watcher usually notices
    /// changes sooner. <see cref="TimeSpan.Zero"/> checks on every request.
    /// </summary>
    /// <remarks>Defaults to 1 second.</remarks>
    public TimeSpan RevalidateAfter { get; set; } = TimeSpan.FromSeconds(1);
}

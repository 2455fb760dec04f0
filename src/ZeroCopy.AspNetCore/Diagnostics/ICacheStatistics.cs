namespace ZeroCopy.AspNetCore.Diagnostics;

/// <summary>What the cache gauges report.</summary>
internal interface ICacheStatistics
{
    int Count { get; }

    /// <summary>Payload bytes held in memory: the lengths of the cached copies (<c>zerocopy.cache.bytes</c>).</summary>
    long SnapshotBytes { get; }

    /// <summary>
    /// Bytes of the memfd arenas the copies live in, slots used or free, at most MaxTotalBytes
    /// (<c>zerocopy.cache.reserved.bytes</c>). Minus <see cref="SnapshotBytes"/>: fragmentation and
    /// free slots.
    /// </summary>
    long ReservedBytes { get; }
}

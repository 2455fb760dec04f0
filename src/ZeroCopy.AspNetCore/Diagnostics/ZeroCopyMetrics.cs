using System.Diagnostics.Metrics;

namespace ZeroCopy.AspNetCore.Diagnostics;

/// <summary>
/// The library's instruments, on the meter <c>ZeroCopy.AspNetCore</c> created through
/// <see cref="IMeterFactory"/>.
/// </summary>
internal sealed class ZeroCopyMetrics : IDisposable
{
    public const string MeterName = "ZeroCopy.AspNetCore";
    public const string StrategyTag = "zerocopy.strategy";
    public const string ReasonTag = "zerocopy.fallback.reason";
    public const string LoopTag = "zerocopy.loop";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _responses;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _fallbacks;
    private readonly Counter<long> _cacheHits;
    private readonly Counter<long> _cacheMisses;
    private readonly Counter<long> _cacheAdmissions;
    private readonly Counter<long> _cacheEvictions;
    private readonly Counter<long> _cacheCopies;
    private readonly Counter<long> _diskOffloads;
    private readonly Lock _cachesLock = new();
    private readonly Lock _loopsLock = new();
    private readonly List<ICacheStatistics> _caches = [];
    private readonly List<ILoopStatistics> _loops = [];

    public ZeroCopyMetrics(IMeterFactory? meterFactory)
    {
        if (meterFactory is null)
        {
            _meter = new Meter(MeterName);
            _ownsMeter = true;
        }
        else
        {
            _meter = meterFactory.Create(MeterName);
        }

        _responses = _meter.CreateCounter<long>(
            "zerocopy.responses",
            unit: "{response}",
            description: "File responses with a body, by the strategy that produced the body (hot-cache: the bytes came from the hot-file cache's memory, however they were sent; short-circuit: every response the transport's short-circuit lane sent, HEAD and 304 included).");
        _bytes = _meter.CreateCounter<long>(
            "zerocopy.response.bytes",
            unit: "By",
            description: "File body bytes handed to the connection, by strategy.");
        _fallbacks = _meter.CreateCounter<long>(
            "zerocopy.fallbacks",
            unit: "{body}",
            description: "Bodies (or multipart parts) read from a file, not from the hot-file cache's memory, that could not use the configured zero-copy mode, by reason; kernel-error counts each engine the kernel refused.");
        _cacheCopies = _meter.CreateCounter<long>(
            "zerocopy.cache.copies",
            unit: "{body}",
            description: "Bodies (or multipart parts) of at least MinZeroCopyBytes served from the hot-file cache's memory that were copied into the connection instead of sent by reference from the cache's memfd, by reason (tls, http2, ...). Also counted under zerocopy.responses as hot-cache; never a fallback.");
        _cacheHits = _meter.CreateCounter<long>("zerocopy.cache.hits", unit: "{request}", description: "Requests served from the hot-file cache.");
        _cacheMisses = _meter.CreateCounter<long>("zerocopy.cache.misses", unit: "{request}", description: "Requests the hot-file cache could not serve.");
        _cacheAdmissions = _meter.CreateCounter<long>("zerocopy.cache.admissions", unit: "{file}", description: "File versions added to the hot-file cache.");
        _cacheEvictions = _meter.CreateCounter<long>("zerocopy.cache.evictions", unit: "{file}", description: "Files evicted from the hot-file cache to stay within its limits.");
        _meter.CreateObservableGauge("zerocopy.cache.bytes", () => SumCaches(static c => c.SnapshotBytes), unit: "By", description: "Bytes of the files held in hot-file cache slots.");
        _meter.CreateObservableGauge("zerocopy.cache.reserved.bytes", () => SumCaches(static c => c.ReservedBytes), unit: "By", description: "Bytes of the hot-file cache's memory arenas, slots used or free (bounded by Cache:MaxTotalBytes).");
        _meter.CreateObservableGauge("zerocopy.cache.entries", () => SumCaches(static c => c.Count), unit: "{file}", description: "Files in the hot-file cache.");
        _meter.CreateObservableGauge("zerocopy.transport.connections", ObserveLoops, unit: "{connection}", description: "Open connections of each EventLoop engine loop, by loop index.");
        _diskOffloads = _meter.CreateCounter<long>(
            "zerocopy.transport.disk.offloads",
            unit: "{chunk}",
            description: "File chunks (up to 1 MiB) an EventLoop engine loop found not in the page cache and handed to a disk worker to read, instead of blocking the loop on the disk.");
    }

    public void CacheHit() => _cacheHits.Add(1);

    public void CacheMiss() => _cacheMisses.Add(1);

    public void CacheAdmission() => _cacheAdmissions.Add(1);

    public void CacheEviction() => _cacheEvictions.Add(1);

    /// <summary>A hot-cache body copied from the cache's memory although it was large enough for the zero-copy path.</summary>
    public void CacheCopy(FallbackReason reason)
        => _cacheCopies.Add(1, new KeyValuePair<string, object?>(ReasonTag, reason.Name()));

    /// <summary>A chunk of a file body went to the disk workers.</summary>
    public void DiskOffload() => _diskOffloads.Add(1);

    public void TrackLoops(ILoopStatistics loops)
    {
        lock (_loopsLock)
        {
            _loops.Add(loops);
        }
    }

    public void UntrackLoops(ILoopStatistics loops)
    {
        lock (_loopsLock)
        {
            _loops.Remove(loops);
        }
    }

    private IEnumerable<Measurement<long>> ObserveLoops()
    {
        lock (_loopsLock)
        {
            // One transport per host has loops; a second one (another server in the host) adds to the same indexes.
            var counts = new List<long>();
            foreach (var group in _loops)
            {
                for (var i = 0; i < group.LoopCount; i++)
                {
                    if (i == counts.Count)
                    {
                        counts.Add(0);
                    }

                    counts[i] += group.ConnectionsOf(i);
                }
            }

            var measurements = new Measurement<long>[counts.Count];
            for (var i = 0; i < counts.Count; i++)
            {
                measurements[i] = new Measurement<long>(counts[i], new KeyValuePair<string, object?>(LoopTag, i));
            }

            return measurements;
        }
    }

    public void TrackCache(ICacheStatistics cache)
    {
        lock (_cachesLock)
        {
            _caches.Add(cache);
        }
    }

    public void UntrackCache(ICacheStatistics cache)
    {
        lock (_cachesLock)
        {
            _caches.Remove(cache);
        }
    }

    /// <summary>The live caches (tests inspect them).</summary>
    internal ICacheStatistics[] Caches
    {
        get
        {
            lock (_cachesLock)
            {
                return [.. _caches];
            }
        }
    }

    private long SumCaches(Func<ICacheStatistics, long> value)
    {
        lock (_cachesLock)
        {
            long total = 0;
            foreach (var cache in _caches)
            {
                total += value(cache);
            }

            return total;
        }
    }

    public void ResponseSent(ResponseStrategy strategy, long bytes)
    {
        var tag = new KeyValuePair<string, object?>(StrategyTag, strategy.Name());
        // Bytes first: a listener that sees the response counted also sees its bytes (a test that
        // waited for the response count read the bytes of all but the last response once).
        if (bytes > 0)
        {
            _bytes.Add(bytes, tag);
        }

        _responses.Add(1, tag);
    }

    /// <summary>Body bytes of a response counted elsewhere (the parts of a multipart response).</summary>
    public void BytesSent(ResponseStrategy strategy, long bytes)
    {
        if (bytes > 0)
        {
            _bytes.Add(bytes, new KeyValuePair<string, object?>(StrategyTag, strategy.Name()));
        }
    }

    public void Fallback(FallbackReason reason)
        => _fallbacks.Add(1, new KeyValuePair<string, object?>(ReasonTag, reason.Name()));

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}

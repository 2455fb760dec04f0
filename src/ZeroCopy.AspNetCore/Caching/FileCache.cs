using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.Versioning;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Primitives;
using Microsoft.Win32.SafeHandles;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;
using ZeroCopy.AspNetCore.Files;

namespace ZeroCopy.AspNetCore.Caching;

/// <summary>
/// The hot-file cache of one middleware (one root): request sub-path → <see cref="CacheEntry"/>.
/// </summary>
/// <remarks>
/// <para>
/// Hits are lock-free: a dictionary lookup, a freshness check (a timestamp and a change token), a
/// reference count increment and a hit counted on the entry. A file up to <c>MaxFileBytes</c> is
/// admitted on its <c>MinHits</c>-th request as a copy in an arena slot; a larger one on its first
/// request as a descriptor kept open with its metadata (nginx's open_file_cache, min_uses 1).
/// Entries older than <c>RevalidateAfter</c>, or whose file-watcher token fired, are checked
/// against the file (statx of the path, else openat2 + fstat: inode, device, size, mtime); a
/// changed file gets a new entry, a vanished one none.
/// </para>
/// <para>
/// Eviction (FileCache.Eviction.cs) runs under a lock only at MaxEntries, or when a size class has
/// no free slot and no room for another arena (<see cref="MakeRoom"/>); a candidate then displaces
/// only entries asked for less often than itself, a batch at a time. Evicting frees a slot (no
/// munmap) once the entry's last reference is gone.
/// </para>
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed partial class FileCache : ICacheStatistics, IDisposable
{
    private static int s_lastId;

    private readonly ConcurrentDictionary<CacheKey, CacheEntry> _entries = new();
    private readonly RequestCounter _requests = new();
    private readonly Lock _evictionLock = new();
    private readonly ZeroCopyCacheOptions _options;
    private readonly RootDirectory _root;
    private readonly IFileProvider _provider;
    private readonly ETagFactory _etags;
    private readonly long _keepDescriptorFrom;
    private readonly ZeroCopyMetrics _metrics;
    private readonly long _revalidateTicks;
    private readonly string _memfdName;
    private readonly ArenaStore _arenas;
    private readonly string[] _siblingSuffixes;
    private readonly Func<string, string?>? _cacheControlFor;
    private long _snapshotBytes;
    private int _snapshotCount;

    // ConcurrentDictionary.Count takes every one of the dictionary's locks, and the lock array
    // grows with the table (up to 1,024 locks): counting on the request path cost a fifth of the
    // CPU with 10,000 files (perf record: Monitor enter/exit in libcoreclr under MarkMissing). These
    // counters follow the successful adds and removes; Clear races make them approximate, which is
    // all a bound on bookkeeping needs.
    private int _entryCount;
    private bool _watchUnavailable;
    private volatile bool _disposed;

    /// <param name="options">Limits and timings.</param>
    /// <param name="root">Opens and re-checks files below the root.</param>
    /// <param name="provider">The site's provider, for change tokens and file infos.</param>
    /// <param name="etags">Describes new versions found by revalidation.</param>
    /// <param name="keepDescriptorFrom">Copies of at least this many bytes expose their arena's memfd for sendfile.</param>
    /// <param name="metrics">Counts hits, misses, admissions and evictions.</param>
    /// <param name="siblingSuffixes">Suffixes of the precompressed siblings, in the site's order (empty when off).</param>
    /// <param name="cacheControlFor">The site's Cache-Control rules: a file's path below the root → its value, looked up once per entry.</param>
    public FileCache(ZeroCopyCacheOptions options, RootDirectory root, IFileProvider provider, ETagFactory etags, long keepDescriptorFrom, ZeroCopyMetrics metrics, string[]? siblingSuffixes = null, Func<string, string?>? cacheControlFor = null)
    {
        _cacheControlFor = cacheControlFor;
        _siblingSuffixes = siblingSuffixes ?? [];
        _options = options;
        _root = root;
        _provider = provider;
        _etags = etags;
        _keepDescriptorFrom = keepDescriptorFrom;
        _metrics = metrics;
        _revalidateTicks = (long)(options.RevalidateAfter.TotalSeconds * Stopwatch.Frequency);
        Id = Interlocked.Increment(ref s_lastId);
        _memfdName = "zerocopy-cache-" + Id.ToString(CultureInfo.InvariantCulture);
        _arenas = new ArenaStore(_memfdName, options.MaxFileBytes, options.MaxTotalBytes);
        _classFloors = new long[_arenas.ClassCount];
        metrics.TrackCache(this);
    }

    public int Id { get; }

    /// <summary>The name every arena memfd of this cache carries (visible in /proc/PID/maps).</summary>
    public string MemfdName => _memfdName;

    public int Count => Volatile.Read(ref _entryCount);

    /// <summary>Entries that are in-memory copies (one slot each, none for a 0-byte file).</summary>
    public int SnapshotCount => Volatile.Read(ref _snapshotCount);

    /// <summary>Payload bytes of the copies: the cached files' lengths.</summary>
    public long SnapshotBytes => Interlocked.Read(ref _snapshotBytes);

    /// <summary>Bytes of the arenas alive, slots used or free; at most MaxTotalBytes.</summary>
    public long ReservedBytes => _arenas.ReservedBytes;

    /// <summary>The arenas: their count is the number of this cache's memfd mappings.</summary>
    internal ArenaStore Arenas => _arenas;

    /// <summary>The entries now (tests check where their slots lie).</summary>
    internal CacheEntry[] Entries() => [.. _entries.Values];

    /// <summary>A fresh entry with a reference taken for the caller, or null (a miss).</summary>
    /// <param name="key">Path and representation.</param>
    /// <param name="countMiss">False for probes of precompressed siblings, which most files do not have.</param>
    public CacheEntry? TryGet(in CacheKey key, bool countMiss = true)
    {
        if (!_entries.TryGetValue(key, out var entry))
        {
            if (countMiss)
            {
                _metrics.CacheMiss();
            }

            return null;
        }

        var now = Stopwatch.GetTimestamp();
        if (now - entry.ValidatedAt > _revalidateTicks || entry.ChangeToken is { HasChanged: true })
        {
            entry = Revalidate(entry, now);
        }

        if (entry is null || !entry.TryAcquire())
        {
            if (countMiss)
            {
                _metrics.CacheMiss();
            }

            return null;
        }

        entry.LastAccess = now;
        entry.CountHit(_requests.Epoch);
        _metrics.CacheHit();
        return entry;
    }

    /// <summary>
    /// A request that missed opened the file: count it, and admit the file on its MinHits-th
    /// request (a file above MaxFileBytes on its first). Returns the new entry with a reference
    /// taken for the caller, or null. The caller's descriptor stays the caller's.
    /// </summary>
    public CacheEntry? Offer(in CacheKey key, string filePath, FileVersion version, SafeFileHandle handle)
    {
        if (_disposed || version.Identity is not { } identity)
        {
            return null;
        }

        var frequency = _requests.Increment(key);

        // A file above MaxFileBytes is kept as its descriptor and metadata from its first request
        // (nginx's open_file_cache with min_uses 1): admitting it costs a dup(2), not a copy, so it
        // is not held to MinHits.
        if (version.Length > _options.MaxFileBytes)
        {
            return Admit(key, filePath, version, handle, identity, frequency);
        }

        // Admissions are not paced: copying into a free slot costs a pread and an fstat on top of
        // the miss, and at a limit the frequency rule decides (docs/performance/findings-2026-12.md,
        // "Admission policy after the arenas").
        return frequency < Math.Max(_options.MinHits, 1) ? null : Admit(key, filePath, version, handle, identity, frequency);
    }

    /// <summary>
    /// Copies or keeps the file as a new entry, displacing colder entries at a limit; the new
    /// entry with a reference for the caller, or null when refused.
    /// </summary>
    /// <param name="key">Path and representation.</param>
    /// <param name="filePath">The path below the root.</param>
    /// <param name="version">The version the request resolved.</param>
    /// <param name="handle">The request's descriptor of that version.</param>
    /// <param name="identity">The version's fstat, compared again after the copy.</param>
    /// <param name="frequency">The candidate's estimate: at a limit it must exceed the frequency of the entries it displaces.</param>
    private CacheEntry? Admit(in CacheKey key, string filePath, FileVersion version, SafeFileHandle handle, in FileStatus identity, int frequency)
    {
        if (Count >= _options.MaxEntries && !MakeEntryRoom(frequency))
        {
            return null;
        }

        var entry = Build(key, filePath, version, handle, identity, version.ObservedAt, frequency);
        if (entry is null)
        {
            return null;
        }

        if (!_entries.TryAdd(key, entry))
        {
            // Another request admitted it first.
            Discard(entry);
            return null;
        }

        Added(entry);
        _metrics.CacheAdmission();
        LowerFloor(ref _entryFloor, frequency);
        if (entry.Slot is { } slot)
        {
            LowerFloor(ref _classFloors[slot.Arena.ClassIndex], frequency);
        }

        if (Count > _options.MaxEntries)
        {
            // Admissions racing past the check above: back within the bound, whatever the frequencies.
            MakeEntryRoom(int.MaxValue);
        }

        return entry.TryAcquire() ? entry : null;
    }

    // Admission methods run in bursts (a cold start, a deploy) and each call is expensive: they are
    // compiled optimized on their first call instead of at tier 0 and again at tier 1 later, in the
    // middle of the traffic that admits files (docs/performance/findings-2026-12.md, the
    // many-small-files cell).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private CacheEntry? Build(CacheKey key, string filePath, FileVersion version, SafeFileHandle handle, in FileStatus identity, long now, int frequency)
    {
        var token = Watch(filePath);
        CacheEntry? entry;
        if (version.Length == 0)
        {
            // Nothing to copy: an empty copy needs no slot.
            entry = new CacheEntry(key, filePath, version, null, null, isCopy: true, token, now);
        }
        else if (version.Length <= _arenas.MaxPayload)
        {
            var slot = TakeSlot(version.Length, frequency);
            if (slot is null)
            {
                return null;
            }

            if (!slot.TryFill(handle, identity))
            {
                slot.Free();
                return null;
            }

            entry = new CacheEntry(key, filePath, version, Lend(slot), slot, isCopy: true, token, now);
        }
        else
        {
            var copy = Interop.Duplicate(handle, out _);
            entry = copy.IsInvalid ? null : new CacheEntry(key, filePath, version, copy, null, isCopy: false, token, now);
        }

        if (entry is not null)
        {
            entry.StartFrequency(frequency, _requests.Epoch);

            // The rules match the path the request named (a precompressed sibling takes its file's).
            entry.CacheControl = _cacheControlFor?.Invoke(key.Path);
            if (key.Variant == 0)
            {
                entry.Siblings = ProbeSiblings(filePath);
            }
        }

        return entry;
    }

    /// <summary>
    /// The descriptor a copy in <paramref name="slot"/> is sent from with sendfile, or null (its
    /// bytes are written behind the headers). The memfd is exposed only for copies of at least
    /// keepDescriptorFrom bytes in whole-page slots: they may go to a socket by page reference, and
    /// must then leave the file before reuse (<see cref="ArenaSlot.Lent"/>, set here).
    /// </summary>
    private SafeFileHandle? Lend(ArenaSlot slot)
    {
        slot.Lent = slot.Length >= _keepDescriptorFrom && ArenaStore.CanLend(slot.Arena);
        return slot.Lent ? slot.Arena.Memfd : null;
    }

    /// <summary>Which precompressed siblings of <paramref name="filePath"/> exist now (bit i: the i-th suffix).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int ProbeSiblings(string filePath)
    {
        var found = 0;
        for (var i = 0; i < _siblingSuffixes.Length; i++)
        {
            if (_provider.GetFileInfo(filePath + _siblingSuffixes[i]).Exists)
            {
                found |= 1 << i;
            }
        }

        return found;
    }

    /// <summary>Checks a stale entry against the file; returns the entry to use, or null.</summary>
    private CacheEntry? Revalidate(CacheEntry entry, long now)
    {
        if (!entry.TryBeginRevalidation())
        {
            // Someone else is checking it right now; this request may use it meanwhile.
            return entry;
        }

        try
        {
            // Usually nothing changed: one statx of the path, as nginx's open_file_cache does. The
            // same inode, device, size and mtime are the very bytes this entry holds, whatever path
            // led there. Anything else takes the full open below the root.
            if (entry.StatPath is { } statPath
                && Interop.Stat(statPath, out var quick) == Errno.None && entry.Version.IsSameFile(quick))
            {
                return StillCurrent(entry, now);
            }

            if (entry.Version.PhysicalPath is not { } path
                || _root.Open(path, out var handle, out var status) != OpenOutcome.Opened)
            {
                Remove(entry);
                return null;
            }

            using (handle)
            {
                if (entry.Version.IsSameFile(status))
                {
                    return StillCurrent(entry, now);
                }

                // A new version: describe it afresh and take its place; responses in flight keep
                // the old entry until they release it.
                var info = _provider.GetFileInfo(entry.FilePath);
                var version = _etags.Describe(info, entry.FilePath, entry.Version.ContentType, entry.Version.ContentEncoding, status, handle!);
                // The new version inherits the old one's frequency: it is the same file to its readers.
                var replacement = Build(entry.Key, entry.FilePath, version, handle!, status, now, entry.Frequency(_requests.Epoch));
                if (replacement is null || !_entries.TryUpdate(entry.Key, replacement, entry))
                {
                    if (replacement is not null)
                    {
                        Discard(replacement);
                    }

                    Remove(entry);
                    return null;
                }

                Removed(entry);
                Added(replacement);
                _metrics.CacheAdmission();
                entry.Release();
                return replacement;
            }
        }
        finally
        {
            entry.EndRevalidation();
        }
    }

    /// <summary>The file is the entry's version: watch it again if the token fired, and trust it for another window.</summary>
    private CacheEntry StillCurrent(CacheEntry entry, long now)
    {
        if (entry.ChangeToken is { HasChanged: true })
        {
            entry.ChangeToken = Watch(entry.FilePath);
        }

        if (entry.Key.Variant == 0 && _siblingSuffixes.Length != 0)
        {
            // Siblings added or removed since the last window are seen now (the watcher watches
            // the file itself only).
            entry.Siblings = ProbeSiblings(entry.FilePath);
        }

        entry.ValidatedAt = now;
        return entry;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private IChangeToken? Watch(string filePath)
    {
        if (_watchUnavailable)
        {
            return null;
        }

        try
        {
            var token = _provider.Watch(filePath.TrimStart('/'));
            return token is NullChangeToken ? null : token;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or PlatformNotSupportedException or ArgumentException)
        {
            // inotify limits and the like: the revalidation window still bounds staleness.
            _watchUnavailable = true;
            return null;
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _metrics.UntrackCache(this);
        foreach (var entry in _entries.Values)
        {
            Remove(entry);
        }

        _requests.Clear();

        // Arenas whose slots responses still hold are unmapped when those let go.
        _arenas.Dispose();
    }
}

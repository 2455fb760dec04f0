namespace ZeroCopy.AspNetCore.Caching;

/// <summary>Eviction: by the entry and byte limits, and to find a slot for an admission.</summary>
internal sealed partial class FileCache
{
    /// <summary>
    /// How many least recently used entries of a class one admission may evict to free a slot of
    /// that class. An evicted entry still referenced by a response frees its slot only when that
    /// response ends, so a few may be needed; past this the admission is refused.
    /// </summary>
    internal const int MaxEvictionsPerAdmission = 16;

    /// <summary>A slot for <paramref name="length"/> bytes: a free one, a new arena's, or one made free by evicting; null when refused.</summary>
    private ArenaSlot? TakeSlot(long length)
    {
        // The common case: a free slot in an existing arena, no syscall.
        var slot = _arenas.TryTake(length);
        if (slot is null && MakeRoom(length))
        {
            slot = _arenas.TryTake(length);
        }

        return slot;
    }

    /// <summary>
    /// The class of <paramref name="length"/> has no free slot and another arena would pass
    /// MaxTotalBytes. In order: an arena of another class with no slot taken is unmapped; else, when
    /// the class has an arena, its least recently used entries are evicted (at most
    /// <see cref="MaxEvictionsPerAdmission"/>) until one slot is free; else (the class has no arena
    /// at all) arenas of other classes are retired, the one whose last hit is the oldest first, until
    /// a new arena fits: their entries are evicted and each is unmapped once responses holding its
    /// slots end. Without that last step a class first used after the others filled MaxTotalBytes
    /// could never admit a file.
    /// </summary>
    /// <returns>True when taking a slot is worth another try.</returns>
    private bool MakeRoom(long length)
    {
        if (!_arenas.CanEverFit(length))
        {
            return false;
        }

        lock (_evictionLock)
        {
            if (_arenas.HasFreeSlot(length) || _arenas.TryReleaseEmptyArena(length))
            {
                return true;
            }

            var entries = _entries.Values.ToArray();
            Array.Sort(entries, static (a, b) => a.LastAccess.CompareTo(b.LastAccess));
            var classIndex = ArenaStore.ClassOf(length);
            if (_arenas.HasArena(length))
            {
                var evicted = 0;
                foreach (var entry in entries)
                {
                    if (entry.Slot is not { } slot || slot.Arena.ClassIndex != classIndex || slot.Arena.Retired)
                    {
                        continue;
                    }

                    if (Remove(entry))
                    {
                        _metrics.CacheEviction();
                    }

                    if (_arenas.HasFreeSlot(length))
                    {
                        return true;
                    }

                    if (++evicted == MaxEvictionsPerAdmission)
                    {
                        break;
                    }
                }

                return false;
            }

            // Arenas of other classes, least recently hit first, until a new arena fits once the
            // retired ones still held by responses are unmapped.
            var pending = _arenas.Arenas().Where(static a => a.Retired).Sum(static a => a.Bytes);
            var retired = false;
            while (_arenas.ReservedBytes - pending + _arenas.ArenaBytes(length) > _options.MaxTotalBytes
                && LeastRecentlyUsedArena(entries, classIndex) is { } victim)
            {
                foreach (var entry in entries)
                {
                    if (entry.Slot?.Arena == victim && Remove(entry))
                    {
                        _metrics.CacheEviction();
                    }
                }

                if (!_arenas.Retire(victim))
                {
                    pending += victim.Bytes;
                }

                retired = true;
            }

            return retired;
        }
    }

    /// <summary>
    /// The arena of another class than <paramref name="classIndex"/> whose most recent hit is the
    /// oldest (an arena whose slots only responses hold counts as never hit); null when none.
    /// </summary>
    private Arena? LeastRecentlyUsedArena(CacheEntry[] entries, int classIndex)
    {
        var lastHit = new Dictionary<Arena, long>();
        foreach (var arena in _arenas.Arenas())
        {
            if (arena.ClassIndex != classIndex && !arena.Retired)
            {
                lastHit[arena] = long.MinValue;
            }
        }

        foreach (var entry in entries)
        {
            if (entry.Slot is { } slot && lastHit.TryGetValue(slot.Arena, out var last) && entry.LastAccess > last)
            {
                lastHit[slot.Arena] = entry.LastAccess;
            }
        }

        Arena? victim = null;
        var oldest = long.MaxValue;
        foreach (var (arena, last) in lastHit)
        {
            if (victim is null || last < oldest)
            {
                victim = arena;
                oldest = last;
            }
        }

        return victim;
    }

    private void EnforceLimits()
    {
        if (Count <= _options.MaxEntries && SnapshotBytes <= _options.MaxTotalBytes)
        {
            return;
        }

        lock (_evictionLock)
        {
            var entries = _entries.Values.ToArray();
            if (entries.Length <= _options.MaxEntries && SnapshotBytes <= _options.MaxTotalBytes)
            {
                return;
            }

            Array.Sort(entries, static (a, b) => a.LastAccess.CompareTo(b.LastAccess));
            var targetEntries = (int)(_options.MaxEntries * 0.9);
            var targetBytes = (long)(_options.MaxTotalBytes * 0.9);
            var count = entries.Length;
            foreach (var entry in entries)
            {
                if (count <= targetEntries && SnapshotBytes <= targetBytes)
                {
                    break;
                }

                if (Remove(entry))
                {
                    _metrics.CacheEviction();
                    count--;
                }
            }
        }
    }

    /// <returns>True when this call removed the entry.</returns>
    private bool Remove(CacheEntry entry)
    {
        if (!_entries.TryRemove(new KeyValuePair<CacheKey, CacheEntry>(entry.Key, entry)))
        {
            return false;
        }

        Removed(entry);
        entry.Release();
        return true;
    }

    private void Added(CacheEntry entry)
    {
        Interlocked.Increment(ref _entryCount);
        if (entry.IsCopy)
        {
            Interlocked.Add(ref _snapshotBytes, entry.SnapshotBytes);
            Interlocked.Increment(ref _snapshotCount);
        }
    }

    private void Removed(CacheEntry entry)
    {
        Interlocked.Decrement(ref _entryCount);
        if (entry.IsCopy)
        {
            Interlocked.Add(ref _snapshotBytes, -entry.SnapshotBytes);
            Interlocked.Decrement(ref _snapshotCount);
        }
    }

    private static void Discard(CacheEntry entry) => entry.Release();
}

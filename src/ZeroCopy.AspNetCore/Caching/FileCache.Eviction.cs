namespace ZeroCopy.AspNetCore.Caching;

/// <summary>
/// Eviction, frequency-aware: at a limit a candidate displaces only entries requested less often
/// than itself (TinyLFU's admission rule), the least frequent and then least recently used first.
/// </summary>
/// <remarks>
/// <para>
/// Frequencies: a candidate's is the sketch's estimate of its misses (<see cref="RequestCounter"/>);
/// an entry starts with the estimate it was admitted with and counts its hits; all of them halve
/// together at every aging of the sketch (<see cref="RequestCounter.Epoch"/>). A crawler's files
/// have an estimate of 1 and every entry at least 1 until an aging, so a sweep of distinct files
/// displaces nothing, while a file asked for more often than the coldest entry takes its place.
/// </para>
/// <para>
/// Cost: finding victims sorts a snapshot of the entries concerned (O(n log n)) under the eviction
/// lock, so one sort evicts a batch (a sixteenth of the class, or down to 90 % of MaxEntries), and
/// a floor (a lower bound of the coldest entry's frequency) refuses candidates that could displace
/// nothing without sorting. Floors stay lower bounds: hits only raise frequencies, evictions only
/// remove entries, an admission lowers the floor to the new entry's frequency, and agings halve
/// floors and frequencies alike.
/// </para>
/// </remarks>
internal sealed partial class FileCache
{
    /// <summary>
    /// How many entries one admission may evict to free a slot of its class, at least: an evicted
    /// entry still referenced by a response frees its slot only when that response ends, so a few
    /// may be needed; past this (or a batch, when larger) the admission is refused.
    /// </summary>
    internal const int MaxEvictionsPerAdmission = 16;

    /// <summary>One sort of a full class evicts up to this fraction of its entries (colder than the candidate).</summary>
    private const int ClassBatchDivisor = 16;

    // Lower bounds of the coldest entry's frequency, packed as (epoch << 32) | frequency: of all
    // entries, and of each size class's copies.
    private long _entryFloor;
    private readonly long[] _classFloors;

    /// <summary>A slot for <paramref name="length"/> bytes: a free one, a new arena's, or one made free by evicting colder entries; null when refused.</summary>
    private ArenaSlot? TakeSlot(long length, int frequency)
    {
        // The common case: a free slot in an existing arena, no syscall.
        var slot = _arenas.TryTake(length);
        if (slot is null && MakeRoom(length, frequency))
        {
            slot = _arenas.TryTake(length);
        }

        return slot;
    }

    /// <summary>
    /// The class of <paramref name="length"/> has no free slot and another arena would pass
    /// MaxTotalBytes. In order: an arena of another class with no slot taken is unmapped; else, when
    /// the class has an arena, its entries less frequent than the candidate are evicted, coldest
    /// first, a batch of them or until a slot is free; else (the class has no arena at all) arenas
    /// of other classes whose entries are all less frequent than the candidate are retired, the
    /// coldest first, until a new arena fits: their entries are evicted and each is unmapped once
    /// responses holding its slots end.
    /// Without that last step a class first used after the others filled MaxTotalBytes could never
    /// admit a file.
    /// </summary>
    /// <returns>True when taking a slot is worth another try.</returns>
    private bool MakeRoom(long length, int frequency)
    {
        if (!_arenas.CanEverFit(length))
        {
            return false;
        }

        var classIndex = ArenaStore.ClassOf(length);
        if (frequency <= Floor(ref _classFloors[classIndex]) && !_arenas.HasFreeSlot(length) && _arenas.HasArena(length))
        {
            // Every copy of the class is requested at least as often: nothing to displace.
            return false;
        }

        lock (_evictionLock)
        {
            if (_arenas.HasFreeSlot(length) || _arenas.TryReleaseEmptyArena(length))
            {
                return true;
            }

            if (_arenas.HasArena(length))
            {
                var victims = Victims(entry => entry.Slot is { } slot && slot.Arena.ClassIndex == classIndex && !slot.Arena.Retired);
                var batch = Math.Max(1, victims.Count / ClassBatchDivisor);
                var limit = Math.Max(batch, MaxEvictionsPerAdmission);
                var evicted = 0;
                var next = 0;
                for (; next < victims.Count && evicted < limit && victims[next].Frequency < frequency; next++)
                {
                    if (evicted >= batch && _arenas.HasFreeSlot(length))
                    {
                        break;
                    }

                    if (Remove(victims[next].Entry))
                    {
                        _metrics.CacheEviction();
                        evicted++;
                    }
                }

                SetFloor(ref _classFloors[classIndex], next < victims.Count ? victims[next].Frequency : 0);
                return _arenas.HasFreeSlot(length);
            }

            // Arenas of other classes, coldest first, until a new arena fits once the retired ones
            // still held by responses are unmapped; only arenas whose every file is asked for less
            // often than the candidate (a crawler's file in a new class retires nothing).
            var entries = _entries.Values.ToArray();
            var pending = _arenas.Arenas().Where(static a => a.Retired).Sum(static a => a.Bytes);
            var retired = false;
            while (_arenas.ReservedBytes - pending + _arenas.ArenaBytes(length) > _options.MaxTotalBytes
                && ColdestArena(entries, classIndex, frequency) is { } victim)
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
    /// The cache holds MaxEntries: evicts entries less frequent than the candidate, coldest first,
    /// down to 90 % of MaxEntries. <paramref name="frequency"/> <see cref="int.MaxValue"/> enforces
    /// the bound whatever the frequencies (after admissions raced past it).
    /// </summary>
    /// <returns>True when there is room for one more entry.</returns>
    private bool MakeEntryRoom(int frequency)
    {
        if (frequency <= Floor(ref _entryFloor))
        {
            return false;
        }

        lock (_evictionLock)
        {
            if (Count < _options.MaxEntries)
            {
                return true;
            }

            var victims = Victims(static _ => true);
            var target = _options.MaxEntries - Math.Max(1, _options.MaxEntries / 10);
            var next = 0;
            for (; next < victims.Count && Count > target && victims[next].Frequency < frequency; next++)
            {
                if (Remove(victims[next].Entry))
                {
                    _metrics.CacheEviction();
                }
            }

            SetFloor(ref _entryFloor, next < victims.Count ? victims[next].Frequency : 0);
            return Count < _options.MaxEntries;
        }
    }

    /// <summary>The entries matching <paramref name="include"/>, coldest first: by frequency, then by last hit.</summary>
    private List<Victim> Victims(Func<CacheEntry, bool> include)
    {
        // Frequencies and hit times move while the array is sorted: sort a snapshot of them.
        var epoch = _requests.Epoch;
        var victims = new List<Victim>(Count);
        foreach (var entry in _entries.Values)
        {
            if (include(entry))
            {
                victims.Add(new Victim(entry, entry.Frequency(epoch), entry.LastAccess));
            }
        }

        victims.Sort(static (a, b) => a.Frequency != b.Frequency ? a.Frequency.CompareTo(b.Frequency) : a.LastAccess.CompareTo(b.LastAccess));
        return victims;
    }

    /// <summary>An entry and its frequency and last hit when the eviction looked.</summary>
    private readonly record struct Victim(CacheEntry Entry, int Frequency, long LastAccess);

    /// <summary>The floor's frequency now (aged by the epochs since it was set).</summary>
    private int Floor(ref long floor) => Unpack(Volatile.Read(ref floor));

    private void SetFloor(ref long floor, int frequency) => Volatile.Write(ref floor, Pack(frequency));

    /// <summary>A new entry of <paramref name="frequency"/> joined the population of <paramref name="floor"/>.</summary>
    private void LowerFloor(ref long floor, int frequency)
    {
        while (true)
        {
            var seen = Volatile.Read(ref floor);
            if (Unpack(seen) <= frequency || Interlocked.CompareExchange(ref floor, Pack(frequency), seen) == seen)
            {
                return;
            }
        }
    }

    private long Pack(int frequency) => ((long)_requests.Epoch << 32) | (uint)frequency;

    private int Unpack(long packed)
    {
        var age = _requests.Epoch - (int)(packed >> 32);
        var frequency = (int)(uint)packed;
        return age <= 0 ? frequency : age >= 31 ? 0 : frequency >> age;
    }

    /// <summary>
    /// The arena of another class than <paramref name="classIndex"/> whose most frequent entry is
    /// the least frequent, the one whose last hit is the oldest among equals (an arena whose slots
    /// only responses hold counts as never hit); null when none, or when even that arena holds an
    /// entry asked for at least <paramref name="frequency"/> times.
    /// </summary>
    private Arena? ColdestArena(CacheEntry[] entries, int classIndex, int frequency)
    {
        var epoch = _requests.Epoch;
        var heat = new Dictionary<Arena, (int MaxFrequency, long LastHit)>();
        foreach (var arena in _arenas.Arenas())
        {
            if (arena.ClassIndex != classIndex && !arena.Retired)
            {
                heat[arena] = (0, long.MinValue);
            }
        }

        foreach (var entry in entries)
        {
            if (entry.Slot is { } slot && heat.TryGetValue(slot.Arena, out var seen))
            {
                heat[slot.Arena] = (Math.Max(seen.MaxFrequency, entry.Frequency(epoch)), Math.Max(seen.LastHit, entry.LastAccess));
            }
        }

        Arena? victim = null;
        (int MaxFrequency, long LastHit) coldest = default;
        foreach (var (arena, candidate) in heat)
        {
            if (victim is null || candidate.CompareTo(coldest) < 0)
            {
                victim = arena;
                coldest = candidate;
            }
        }

        return victim is not null && coldest.MaxFrequency < frequency ? victim : null;
    }

    /// <summary>
    /// Evicts every entry and keeps the arenas: their slots go back to the free lists (unlent slots
    /// with their pages, so the next copies into them fault nothing). Benchmarks use it to measure
    /// admissions into reused slots.
    /// </summary>
    internal void EvictAll()
    {
        lock (_evictionLock)
        {
            foreach (var entry in _entries.Values)
            {
                if (Remove(entry))
                {
                    _metrics.CacheEviction();
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

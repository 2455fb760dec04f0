using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Caching;

/// <summary>A reload that changes only the cache's limits: the new cache takes over what fits them.</summary>
internal sealed partial class FileCache
{
    /// <summary>
    /// Takes over the entries of <paramref name="previous"/>, a cache of the same site built with
    /// other limits (every setting that shapes an entry — root, content types, ETags, precompressed
    /// encodings, MinZeroCopyBytes — is the same), most recently used first, while they fit this
    /// cache's limits: a copy is copied into a slot of this cache's arenas (memory to memory, the
    /// file is not read), a descriptor is duplicated. An entry that does not fit, and a descriptor
    /// entry whose file this cache would copy, are left behind and counted as evictions. Call it
    /// before this cache serves requests; <paramref name="previous"/> may still be serving (its
    /// entries are held while they are copied) and is disposed by the caller afterwards.
    /// </summary>
    /// <returns>The number of entries taken over.</returns>
    public int Adopt(FileCache previous)
    {
        var entries = previous.Entries();
        Array.Sort(entries, static (a, b) => b.LastAccess.CompareTo(a.LastAccess));
        var adopted = 0;
        foreach (var entry in entries)
        {
            if (!entry.TryAcquire())
            {
                // Evicted or replaced meanwhile.
                continue;
            }

            try
            {
                var copy = Count < _options.MaxEntries ? TakeOver(entry, previous._requests.Epoch) : null;
                if (copy is null)
                {
                    _metrics.CacheEviction();
                }
                else if (_entries.TryAdd(copy.Key, copy))
                {
                    Added(copy);
                    adopted++;
                }
                else
                {
                    Discard(copy);
                }
            }
            finally
            {
                entry.Release();
            }
        }

        return adopted;
    }

    /// <summary>This cache's entry for <paramref name="entry"/> (held by the caller), or null when it does not fit.</summary>
    /// <param name="entry">An entry of the previous cache.</param>
    /// <param name="previousEpoch">The previous cache's sketch epoch, which <paramref name="entry"/>'s frequency is counted in.</param>
    private CacheEntry? TakeOver(CacheEntry entry, int previousEpoch)
    {
        var length = entry.Version.Length;
        CacheEntry? copy;
        if (!entry.IsCopy)
        {
            // A file this cache would copy is left to be admitted as a copy by its next requests.
            if (length <= _options.MaxFileBytes || entry.Handle is not { } handle)
            {
                return null;
            }

            var duplicate = Interop.Duplicate(handle, out _);
            if (duplicate.IsInvalid)
            {
                return null;
            }

            copy = new CacheEntry(entry.Key, entry.FilePath, entry.Version, duplicate, null, isCopy: false, entry.ChangeToken, entry.ValidatedAt);
        }
        else if (entry.Slot is not { } source)
        {
            // A 0-byte file: nothing to copy.
            copy = new CacheEntry(entry.Key, entry.FilePath, entry.Version, null, null, isCopy: true, entry.ChangeToken, entry.ValidatedAt);
        }
        else
        {
            // No eviction to make room: what this cache holds was used more recently.
            if (length > _options.MaxFileBytes || SnapshotBytes + length > _options.MaxTotalBytes
                || _arenas.TryTake(length) is not { } slot)
            {
                return null;
            }

            // The source slot cannot change while its entry is held; the new slot is free until the entry below owns it.
            source.Content.CopyTo(slot.Arena.Span(slot.Index, slot.Length));
            copy = new CacheEntry(entry.Key, entry.FilePath, entry.Version, Lend(slot), slot, isCopy: true, entry.ChangeToken, entry.ValidatedAt);
        }

        copy.Siblings = entry.Siblings;
        copy.LastAccess = entry.LastAccess;

        // The same site's rules (a change of them rebuilds the site instead) and the same file's
        // popularity, on this cache's sketch epochs.
        copy.CacheControl = entry.CacheControl;
        copy.StartFrequency(entry.Frequency(previousEpoch), _requests.Epoch);
        return copy;
    }
}

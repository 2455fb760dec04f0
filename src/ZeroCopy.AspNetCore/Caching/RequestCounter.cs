namespace ZeroCopy.AspNetCore.Caching;

/// <summary>
/// Approximate per-file counts of the requests that missed, for admission: a count-min sketch of
/// two rows of <see cref="Width"/> counters. Nothing is allocated per file, a count is two
/// interlocked increments, and the counts halve every <see cref="Width"/> × 8 increments so files
/// not asked for in a long while are forgotten (as TinyLFU ages its sketch). Each halving starts a
/// new <see cref="Epoch"/>: cache entries age their own hit counts by it (<see cref="CacheEntry.Frequency"/>),
/// so an entry's frequency and a candidate's estimate stay on one scale.
/// </summary>
/// <remarks>
/// It replaces a dictionary of candidates, which allocated a node for every distinct file that
/// missed, grew its table under a flood of distinct paths and was cleared wholesale at a bound. An
/// estimate is never below the true count since the last halving. A file whose two counters are
/// both shared with other files (about 3 % of them when 10,000 files are asked for in one aging
/// window: RequestCounterTests) looks more requested than it is, which can only admit it early or
/// let it displace a colder entry.
/// </remarks>
internal sealed class RequestCounter
{
    /// <summary>Counters per row (a power of two).</summary>
    internal const int Width = 1 << 15;

    private readonly int[] _rows = new int[2 * Width];
    private int _increments;
    private int _epoch;

    /// <summary>How many times the counts were halved.</summary>
    public int Epoch => Volatile.Read(ref _epoch);

    /// <summary>Counts one request for <paramref name="key"/> and returns the estimate of its requests.</summary>
    public int Increment(in CacheKey key)
    {
        var (first, second) = Slots(key);
        var a = Interlocked.Increment(ref _rows[first]);
        var b = Interlocked.Increment(ref _rows[second]);
        if (Interlocked.Increment(ref _increments) % (Width * 8) == 0)
        {
            Age();
        }

        return Math.Min(a, b);
    }

    /// <summary>The estimate of <paramref name="key"/>'s requests, without counting one.</summary>
    public int Estimate(in CacheKey key)
    {
        var (first, second) = Slots(key);
        return Math.Min(Volatile.Read(ref _rows[first]), Volatile.Read(ref _rows[second]));
    }

    public void Clear() => Array.Clear(_rows);

    private void Age()
    {
        // Racy halving: a concurrent increment may be lost or halved twice; counts are estimates.
        for (var i = 0; i < _rows.Length; i++)
        {
            _rows[i] >>= 1;
        }

        Interlocked.Increment(ref _epoch);
    }

    private static (int First, int Second) Slots(in CacheKey key)
    {
        // Two indices from one 64-bit mix of the path's hash and the variant.
        var hash = (ulong)(uint)string.GetHashCode(key.Path.AsSpan()) * 0x9E3779B97F4A7C15UL + key.Variant;
        hash ^= hash >> 29;
        hash *= 0xBF58476D1CE4E5B9UL;
        hash ^= hash >> 32;
        return ((int)(hash & (Width - 1)), Width + (int)((hash >> 32) & (Width - 1)));
    }
}

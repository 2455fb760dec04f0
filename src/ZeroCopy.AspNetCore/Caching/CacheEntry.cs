using Microsoft.Extensions.Primitives;
using Microsoft.Win32.SafeHandles;
using ZeroCopy.AspNetCore.Files;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Caching;

/// <summary>What a request asks for: a path below the root and a representation (0: the file itself, n: the n-th precompressed encoding).</summary>
internal readonly record struct CacheKey(string Path, byte Variant);

/// <summary>
/// A cached file version: its in-memory copy (an arena slot; none for a 0-byte file) or its open
/// descriptor. Reference counted: the cache holds one reference, each request using it (and each
/// transport region sending from its slot) another; the slot is freed, or the descriptor closed,
/// when the last one goes, so a replaced or evicted entry stays valid and unchanged for responses
/// in flight.
/// </summary>
internal sealed class CacheEntry : IHeldFile
{
    private int _references = 1;
    private int _revalidating;
    private int _frequency;
    private int _epoch;

    /// <param name="key">Path and representation.</param>
    /// <param name="filePath">The path below the root.</param>
    /// <param name="version">The version the bytes are.</param>
    /// <param name="handle">The file's own descriptor (owned), the slot's arena memfd (not owned), or null.</param>
    /// <param name="copy">The in-memory copy: an arena slot, or null for a 0-byte copy or a descriptor entry.</param>
    /// <param name="isCopy">True for an in-memory copy (with or without a slot).</param>
    /// <param name="changeToken">The provider's token for the file.</param>
    /// <param name="now">Stopwatch timestamp of the validation.</param>
    public CacheEntry(CacheKey key, string filePath, FileVersion version, SafeFileHandle? handle, ArenaSlot? copy, bool isCopy, IChangeToken? changeToken, long now)
    {
        Key = key;
        FilePath = filePath;
        Version = version;
        Handle = handle;
        Slot = copy;
        IsCopy = isCopy;
        ChangeToken = changeToken;
        ValidatedAt = now;
        LastAccess = now;
    }

    public CacheKey Key { get; }

    /// <summary>The path of the file below the root (a precompressed sibling's own path).</summary>
    public string FilePath { get; }

    public FileVersion Version { get; }

    /// <summary>Open descriptor of the file (entries without a copy), or the memfd of the slot's arena.</summary>
    public SafeFileHandle? Handle { get; }

    /// <summary>True when the entry is an in-memory copy (a slot, or nothing for a 0-byte file).</summary>
    public bool IsCopy { get; }

    /// <summary>The slot holding the copy; null for a descriptor entry and a 0-byte copy.</summary>
    public ArenaSlot? Slot { get; }

    public IChangeToken? ChangeToken { get; set; }

    /// <summary>Payload bytes of the copy (the file's length), 0 for a descriptor entry.</summary>
    public long SnapshotBytes => LinuxOnly.IsSupported && Slot is { } slot ? slot.Length : 0;

    /// <summary>
    /// The file's absolute path, NUL-terminated UTF-8, for the one-statx revalidation (created on
    /// first use; null when the file has no physical path).
    /// </summary>
    public byte[]? StatPath => _statPath ??= Version.PhysicalPath is { } path ? Native.Interop.NullTerminated(path) : null;

    private byte[]? _statPath;

    /// <summary>
    /// For a file itself (variant 0): bit i is set when the i-th precompressed sibling existed when
    /// the entry was last validated. A hit then knows whether the response varies and which
    /// siblings are worth looking up, without probing the disk for each of them.
    /// </summary>
    public int Siblings { get; set; }

    bool IHeldFile.HasContent => IsCopy;

    ReadOnlySpan<byte> IHeldFile.Content => LinuxOnly.IsSupported && Slot is { } slot ? slot.Content : default;

    long IHeldFile.ContentOffset => LinuxOnly.IsSupported && Slot is { } slot ? slot.Offset : 0;

    int? IHeldFile.KnownSiblings => Key.Variant == 0 ? Siblings : null;

    /// <summary>
    /// Set when the middleware itself answered a request for this file from the cache with an empty
    /// PathBase, reached through the application's pipeline: the short-circuit lane answers only such
    /// files, so it never serves one the pipeline would not have let the middleware see (a Map
    /// branch, UsePathBase, an endpoint with the same path).
    /// </summary>
    public bool ServedByPipeline { get; set; }

    /// <inheritdoc cref="IHeldFile.PreparedHeads"/>
    public object? PreparedHeads { get; set; }

    /// <inheritdoc cref="IHeldFile.CacheControl"/>
    public string? CacheControl { get; set; }

    /// <summary>Stopwatch timestamp of the last check against the file on disk.</summary>
    public long ValidatedAt { get; set; }

    /// <summary>Stopwatch timestamp of the last hit, for eviction.</summary>
    public long LastAccess { get; set; }

    /// <summary>
    /// The entry's request frequency at <paramref name="epoch"/> (<see cref="RequestCounter.Epoch"/>):
    /// the estimate it was admitted with plus its hits, halved at every epoch since, like the
    /// sketch's counts. Eviction compares it with a candidate's estimate.
    /// </summary>
    public int Frequency(int epoch)
    {
        var age = epoch - Volatile.Read(ref _epoch);
        return age <= 0 ? Volatile.Read(ref _frequency) : age >= 31 ? 0 : Volatile.Read(ref _frequency) >> age;
    }

    /// <summary>Sets the frequency the entry starts with (the candidate's estimate at admission).</summary>
    public void StartFrequency(int frequency, int epoch)
    {
        _frequency = Math.Min(frequency, MaxFrequency);
        _epoch = epoch;
    }

    /// <summary>
    /// Counts a hit. Plain reads and writes: two hits racing may count once, which an estimate
    /// tolerates, and a hit costs no interlocked operation beyond the reference count's.
    /// </summary>
    public void CountHit(int epoch)
    {
        var frequency = Frequency(epoch);
        _frequency = frequency < MaxFrequency ? frequency + 1 : frequency;
        _epoch = epoch;
    }

    /// <summary>Frequencies saturate here (a hot file's count cannot overflow between halvings).</summary>
    internal const int MaxFrequency = 1 << 24;

    public bool TryAcquire()
    {
        var references = Volatile.Read(ref _references);
        while (references > 0)
        {
            var seen = Interlocked.CompareExchange(ref _references, references + 1, references);
            if (seen == references)
            {
                return true;
            }

            references = seen;
        }

        return false;
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            // Nothing refers to the copy any more: its slot may take the next admission's bytes.
            // The arena owns its memfd; a plain entry owns the file's descriptor.
            if (IsCopy)
            {
                if (LinuxOnly.IsSupported)
                {
                    Slot?.Free();
                }
            }
            else
            {
                Handle?.Dispose();
            }
        }
    }

    /// <summary>Only one request revalidates an entry at a time; the others keep using it meanwhile.</summary>
    public bool TryBeginRevalidation() => Interlocked.Exchange(ref _revalidating, 1) == 0;

    public void EndRevalidation() => Volatile.Write(ref _revalidating, 0);
}

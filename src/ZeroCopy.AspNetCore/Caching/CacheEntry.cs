using Microsoft.Extensions.Primitives;
using Microsoft.Win32.SafeHandles;
using ZeroCopy.AspNetCore.Files;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Caching;

/// <summary>What a request asks for: a path below the root and a representation (0: the file itself, n: the n-th precompressed encoding).</summary>
internal readonly record struct CacheKey(string Path, byte Variant);

/// <summary>
/// A cached file version: its snapshot or its open descriptor. Reference counted: the cache holds
/// one reference, each request using it another; the descriptor and the snapshot are released when
/// the last one goes, so a replaced or evicted entry stays valid for responses in flight.
/// </summary>
internal sealed class CacheEntry : IHeldFile
{
    private int _references = 1;
    private int _revalidating;

    public CacheEntry(CacheKey key, string filePath, FileVersion version, SafeFileHandle? handle, MemfdSnapshot? snapshot, IChangeToken? changeToken, long now)
    {
        Key = key;
        FilePath = filePath;
        Version = version;
        Handle = handle;
        Snapshot = snapshot;
        ChangeToken = changeToken;
        ValidatedAt = now;
        LastAccess = now;
    }

    public CacheKey Key { get; }

    /// <summary>The path of the file below the root (a precompressed sibling's own path).</summary>
    public string FilePath { get; }

    public FileVersion Version { get; }

    /// <summary>Open descriptor of the file (entries without a snapshot), or the snapshot's memfd.</summary>
    public SafeFileHandle? Handle { get; }

    public MemfdSnapshot? Snapshot { get; }

    public IChangeToken? ChangeToken { get; set; }

    public long SnapshotBytes => Snapshot is { } snapshot && LinuxOnly.IsSupported ? snapshot.Length : 0;

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

    bool IHeldFile.HasContent => Snapshot is not null;

    ReadOnlySpan<byte> IHeldFile.Content => Snapshot is { } snapshot && LinuxOnly.IsSupported ? snapshot.Span : default;

    int? IHeldFile.KnownSiblings => Key.Variant == 0 ? Siblings : null;

    /// <summary>Stopwatch timestamp of the last check against the file on disk.</summary>
    public long ValidatedAt { get; set; }

    /// <summary>Stopwatch timestamp of the last hit, for eviction.</summary>
    public long LastAccess { get; set; }

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
            // The snapshot owns its memfd; a plain entry owns the file's descriptor.
            if (Snapshot is { } snapshot)
            {
                if (LinuxOnly.IsSupported)
                {
                    snapshot.Dispose();
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

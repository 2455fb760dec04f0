using Microsoft.Win32.SafeHandles;
using ZeroCopy.AspNetCore.Caching;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>
/// A file as one request uses it: a <see cref="FileVersion"/> and where its bytes come from, either
/// a descriptor opened for this request, or a cache entry this request holds a reference on (its
/// snapshot or its cached descriptor). Disposing releases whichever it is.
/// </summary>
internal sealed class ResolvedFile : IDisposable
{
    private readonly SafeFileHandle? _ownedHandle;
    private CacheEntry? _entry;

    /// <summary>A descriptor opened for this request (owned), or none (opened when the body is sent).</summary>
    public ResolvedFile(FileVersion version, SafeFileHandle? ownedHandle)
    {
        Version = version;
        _ownedHandle = ownedHandle;
        Handle = ownedHandle;
    }

    /// <summary>A cache entry on which the caller already holds a reference, which this now owns.</summary>
    public ResolvedFile(CacheEntry entry)
    {
        Version = entry.Version;
        _entry = entry;
        Handle = entry.Handle;
        Snapshot = entry.Snapshot;
        KnownSiblings = entry.Key.Variant == 0 ? entry.Siblings : null;
    }

    /// <summary>
    /// For a cached file itself: which precompressed siblings existed at its last validation
    /// (bit i: the i-th configured encoding); null when unknown (not from the cache).
    /// </summary>
    public int? KnownSiblings { get; }

    public FileVersion Version { get; }

    /// <summary>Descriptor to read or send from, valid until <see cref="Dispose"/>; null when there is none.</summary>
    public SafeFileHandle? Handle { get; }

    /// <summary>The cached immutable copy, valid until <see cref="Dispose"/>.</summary>
    public MemfdSnapshot? Snapshot { get; }

    public bool FromCache => _entry is not null;

    public void Dispose()
    {
        _ownedHandle?.Dispose();
        Interlocked.Exchange(ref _entry, null)?.Release();
    }
}

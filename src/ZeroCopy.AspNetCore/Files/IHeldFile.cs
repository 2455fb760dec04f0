using Microsoft.Win32.SafeHandles;

namespace ZeroCopy.AspNetCore.Files;

/// <summary>
/// A file version kept open by someone else (the hot-file cache) on which the caller holds one
/// reference: its descriptor and its sealed in-memory copy stay valid until <see cref="Release"/>.
/// </summary>
internal interface IHeldFile
{
    FileVersion Version { get; }

    /// <summary>
    /// A descriptor to send from (the file's, or the memfd holding the in-memory copy at
    /// <see cref="ContentOffset"/>), or null.
    /// </summary>
    SafeFileHandle? Handle { get; }

    /// <summary>True when the bytes are an immutable in-memory copy (<see cref="Content"/>).</summary>
    bool HasContent { get; }

    /// <summary>The immutable copy of the whole file; empty unless <see cref="HasContent"/>.</summary>
    ReadOnlySpan<byte> Content { get; }

    /// <summary>Where byte 0 of <see cref="Content"/> is in <see cref="Handle"/> (0 for the file's own descriptor).</summary>
    long ContentOffset { get; }

    /// <summary>Which precompressed siblings existed at the last validation (bit i: the i-th configured encoding); null when unknown or for a sibling itself.</summary>
    int? KnownSiblings { get; }

    /// <summary>
    /// The Cache-Control value the site's rules give this file, looked up once when it was cached
    /// (null: the rules give none); a hit sets it without matching the rules again.
    /// </summary>
    string? CacheControl { get; }

    /// <summary>Takes one more reference (false when the last one is already gone).</summary>
    /// <summary>
    /// Response heads the short-circuit lane prepared for this version (opaque here), built on
    /// first use; a new version is a new held file, so they never outlive what they describe.
    /// </summary>
    object? PreparedHeads { get; set; }

    bool TryAcquire();

    /// <summary>Gives the caller's reference back.</summary>
    void Release();
}

using Microsoft.Win32.SafeHandles;

namespace ZeroCopy.AspNetCore.Files;

/// <summary>
/// A file as one request uses it: a <see cref="FileVersion"/> and where its bytes come from, either
/// a descriptor opened for this request, or a file held by the cache on which this request holds a
/// reference (its sealed copy or its cached descriptor). Disposing releases whichever it is.
/// </summary>
internal sealed class ResolvedFile : IDisposable
{
    private readonly SafeFileHandle? _ownedHandle;
    private IHeldFile? _held;

    /// <summary>A descriptor opened for this request (owned), or none (opened when the body is sent).</summary>
    public ResolvedFile(FileVersion version, SafeFileHandle? ownedHandle)
    {
        Version = version;
        _ownedHandle = ownedHandle;
        Handle = ownedHandle;
    }

    /// <summary>A held file on which the caller already holds a reference, which this now owns.</summary>
    public ResolvedFile(IHeldFile held)
    {
        Version = held.Version;
        _held = held;
        Handle = held.Handle;
        HasContent = held.HasContent;
        ContentOffset = held.ContentOffset;
        KnownSiblings = held.KnownSiblings;
        CacheControl = held.CacheControl;
        HasPreparedHeaders = true;
    }

    /// <summary>True when <see cref="CacheControl"/> was looked up already (a cached file); else the caller matches the rules.</summary>
    public bool HasPreparedHeaders { get; }

    /// <inheritdoc cref="IHeldFile.CacheControl"/>
    public string? CacheControl { get; }

    /// <inheritdoc cref="IHeldFile.KnownSiblings"/>
    public int? KnownSiblings { get; }

    public FileVersion Version { get; }

    /// <summary>Descriptor to read or send from, valid until <see cref="Dispose"/>; null when there is none.</summary>
    public SafeFileHandle? Handle { get; }

    /// <summary>True when the bytes are a sealed in-memory copy that cannot change (<see cref="Content"/>).</summary>
    public bool HasContent { get; }

    /// <summary>The sealed copy of the whole file, valid until <see cref="Dispose"/>; empty unless <see cref="HasContent"/>.</summary>
    public ReadOnlySpan<byte> Content => _held is { } held ? held.Content : default;

    /// <inheritdoc cref="IHeldFile.ContentOffset"/>
    public long ContentOffset { get; }

    /// <summary>
    /// One more reference on the held file, for a consumer that may outlive this request (a transport
    /// region sending from <see cref="Handle"/> at <see cref="ContentOffset"/>): the bytes stay the
    /// same until it is disposed. Null when nothing is held (a descriptor of this request's own) or
    /// after <see cref="Dispose"/>.
    /// </summary>
    /// <summary>The held file (a cache entry) this response uses, or null for a file opened for it.</summary>
    public IHeldFile? Held => _held;

    public IDisposable? Hold() => _held is { } held && held.TryAcquire() ? new Reference(held) : null;

    public void Dispose()
    {
        _ownedHandle?.Dispose();
        Interlocked.Exchange(ref _held, null)?.Release();
    }

    private sealed class Reference(IHeldFile held) : IDisposable
    {
        private IHeldFile? _held = held;

        public void Dispose() => Interlocked.Exchange(ref _held, null)?.Release();
    }
}

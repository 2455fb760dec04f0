using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Caching;

/// <summary>
/// A taken slot of an <see cref="Arena"/> holding the <see cref="Length"/> bytes of one file
/// version. It is freed once (by the last reference to its cache entry, or by a failed copy); until
/// then nothing writes to it.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class ArenaSlot
{
    private readonly ArenaStore _store;
    private int _freed;

    internal ArenaSlot(ArenaStore store, Arena arena, int index, int length)
    {
        _store = store;
        Arena = arena;
        Index = index;
        Length = length;
    }

    public Arena Arena { get; }

    public int Index { get; }

    /// <summary>Payload bytes (the file's length); at most the slot's size.</summary>
    public int Length { get; }

    /// <summary>
    /// True once the slot's bytes may be handed to the kernel by page reference (sendfile or splice
    /// from <see cref="Arena.Memfd"/>). TCP keeps references to those pages in its send queue after
    /// the call returned, and sends whatever the pages hold when it transmits: writing the next
    /// admission's bytes into the same pages would change bytes of a response already "sent". Such
    /// a slot leaves the file (a punched hole: new pages for the next admission, the old ones stay
    /// with the socket until it drops them) before it is reused. Only whole-page slots can be lent
    /// (<see cref="ArenaStore.CanLend"/>): a hole in a page shared with other slots would zero them.
    /// </summary>
    public bool Lent { get; set; }

    /// <summary>Where the slot starts in <see cref="Arena.Memfd"/>: the offset of the file's byte 0.</summary>
    public long Offset => (long)Index * Arena.SlotSize;

    /// <summary>The slot's bytes; valid until <see cref="Free"/>.</summary>
    public ReadOnlySpan<byte> Content => Arena.Span(Index, Length);

    /// <summary>
    /// Copies <paramref name="source"/> into the slot with pread(2) and compares its fstat (inode,
    /// size, mtime) with <paramref name="before"/>: false when the file ended early, changed during
    /// the copy, or a read failed; the caller then frees the slot (a mix of two versions is never
    /// kept).
    /// </summary>
    public bool TryFill(SafeFileHandle source, in FileStatus before)
    {
        if (before.Size != Length)
        {
            return false;
        }

        var target = Arena.Span(Index, Length);
        var copied = 0;
        try
        {
            while (copied < Length)
            {
                // One pread(2) per call, straight into the mapped slot; a short read continues, 0 is
                // the end of the file (it was truncated meanwhile).
                var read = RandomAccess.Read(source, target[copied..], copied);
                if (read <= 0)
                {
                    return false;
                }

                copied += read;
            }
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
        catch (NotSupportedException)
        {
            return false;
        }

        // A write during the copy changes size or mtime; a rename puts another inode behind the path.
        return Interop.FStat(source, out var after) == Errno.None
            && after.Size == before.Size && after.MTimeSeconds == before.MTimeSeconds
            && after.MTimeNanoseconds == before.MTimeNanoseconds && after.Inode == before.Inode;
    }

    /// <summary>Returns the slot to its class; only the first call counts.</summary>
    public void Free()
    {
        if (Interlocked.Exchange(ref _freed, 1) == 0)
        {
            _store.Return(this);
        }
    }
}

using System.Diagnostics;
using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Caching;

/// <summary>
/// One memfd of <see cref="SlotCount"/> slots of <see cref="SlotSize"/> bytes, sized once, sealed
/// against shrinking and growing, and mapped once read-write for this process.
/// </summary>
/// <remarks>
/// <para>
/// Reading a mapping whose file another process truncated kills the process (SIGBUS; the runtime
/// reports an AccessViolation and exits with 134 before any catch block runs). An arena cannot be
/// truncated: F_SEAL_SHRINK makes ftruncate to a smaller size fail with EPERM (memfd_create(2),
/// fcntl(2) "File Sealing"), F_SEAL_SEAL makes the seals final, and MFD_CLOEXEC keeps the descriptor
/// from child processes. F_SEAL_WRITE is not possible: it fails with EBUSY while a writable shared
/// mapping exists, and admissions write through this one. A slot is written only while it is
/// free (no entry and no response refers to it), so a slot a response reads never changes.
/// </para>
/// <para>
/// The free list is guarded by the owning <see cref="ArenaStore"/>'s class lock.
/// </para>
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed class Arena
{
    private const MemfdSeals SizeSeals = MemfdSeals.F_SEAL_SHRINK | MemfdSeals.F_SEAL_GROW;

    private readonly SafeMappingHandle _mapping;
    private readonly int[] _free;
    private int _freeCount;

    private Arena(SafeFileHandle memfd, SafeMappingHandle mapping, int classIndex, int slotSize, int slotCount)
    {
        Memfd = memfd;
        _mapping = mapping;
        ClassIndex = classIndex;
        SlotSize = slotSize;
        SlotCount = slotCount;
        _free = new int[slotCount];

        // Lowest slots first: they are reused first, so the touched pages stay few.
        for (var i = 0; i < slotCount; i++)
        {
            _free[i] = slotCount - 1 - i;
        }

        _freeCount = slotCount;
    }

    /// <summary>The arena's memfd: sendfile/splice read a slot from it at the slot's offset.</summary>
    public SafeFileHandle Memfd { get; }

    public int ClassIndex { get; }

    public int SlotSize { get; }

    public int SlotCount { get; }

    /// <summary>Bytes the arena reserves (its memfd's fixed size).</summary>
    public long Bytes => (long)SlotSize * SlotCount;

    /// <summary>Slots taken (by an entry, or freed while a response still held them).</summary>
    public int Used => SlotCount - _freeCount;

    /// <summary>A retired arena hands out no slot; it is unmapped once its last slot comes back.</summary>
    public bool Retired { get; set; }

    /// <summary>Creates, sizes, seals and maps an arena; null when a syscall failed (nothing is left open).</summary>
    public static Arena? TryCreate(string name, int classIndex, int slotSize, int slotCount)
    {
        var bytes = (long)slotSize * slotCount;
        var memfd = Interop.MemfdCreate(name, out _);
        if (memfd.IsInvalid)
        {
            return null;
        }

        if (Interop.FTruncate(memfd, bytes) != Errno.None
            || Interop.AddSeals(memfd, SizeSeals) != Errno.None
            || Interop.AddSeals(memfd, MemfdSeals.F_SEAL_SEAL) != Errno.None)
        {
            memfd.Dispose();
            return null;
        }

        var address = Interop.MapReadWrite(memfd, bytes, out _);
        if (address == 0)
        {
            memfd.Dispose();
            return null;
        }

        return new Arena(memfd, new SafeMappingHandle(address, bytes), classIndex, slotSize, slotCount);
    }

    /// <summary>Takes a free slot; false when all are taken. Caller holds the class lock.</summary>
    public bool TryTake(out int slot)
    {
        if (_freeCount == 0 || Retired)
        {
            slot = -1;
            return false;
        }

        slot = _free[--_freeCount];
        return true;
    }

    /// <summary>Gives a slot back. Caller holds the class lock.</summary>
    public void Return(int slot)
    {
        Debug.Assert(_freeCount < SlotCount, "a slot was returned twice");
        _free[_freeCount++] = slot;
    }

    /// <summary>
    /// The first <paramref name="length"/> bytes of slot <paramref name="slot"/>; valid while the
    /// slot is taken (the arena is unmapped only when no slot is).
    /// </summary>
    public Span<byte> Span(int slot, int length) => _mapping.DangerousGetSpan((long)slot * SlotSize, length);

    /// <summary>Unmaps and closes. Only when no slot is taken (nothing can read it any more).</summary>
    public void Release()
    {
        Debug.Assert(Used == 0, "an arena was released with slots in use");
        _mapping.Dispose();
        Memfd.Dispose();
    }
}

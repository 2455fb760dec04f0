using System.Numerics;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Caching;

/// <summary>
/// The memory of one cache's in-memory copies: arenas (<see cref="Arena"/>) per size class, slots
/// handed out and taken back.
/// </summary>
/// <remarks>
/// <para>
/// Size classes are powers of two from <see cref="MinSlotSize"/> (512 B) up to the cache's
/// MaxFileBytes rounded up to a power of two (at most <see cref="MaxSlotSize"/>); a file of L bytes
/// (1 ≤ L ≤ MaxFileBytes) takes a slot of the smallest class ≥ L. A 0-byte file takes no slot.
/// </para>
/// <para>
/// Fragmentation bound: a slot is smaller than twice its payload for L &gt; 256 B (exactly L when L
/// is a power of two ≥ 512 B, exactly 2L at L = 256 B); for 1 ≤ L &lt; 256 B it is 512 B, up to 512
/// times the payload (a 1-byte file takes 512 B). So slot bytes in use ≤ 2 × payload bytes
/// + 512 B × (files under 256 B). Free slots are reserved but unused; every byte of every arena,
/// used or free, counts against MaxTotalBytes (<see cref="ReservedBytes"/> ≤ MaxTotalBytes always).
/// </para>
/// <para>
/// Arena size: the largest multiple of the slot size that is at most
/// min(<see cref="TargetArenaBytes"/> (16 MiB), MaxTotalBytes / 8), and never less than one slot.
/// An arena is created (memfd_create, ftruncate, two fcntl seals, mmap) only when its class has no
/// free slot and the new arena keeps the reserved bytes within MaxTotalBytes; otherwise the cache
/// evicts or refuses (<see cref="FileCache"/>). An arena is unmapped only when none of its slots is
/// taken and either another class needs the room, its class's slots were taken back for another
/// class (<see cref="Retire"/>), or the cache is disposed.
/// </para>
/// <para>
/// One lock per class guards its arenas' free lists; admissions of different classes do not
/// contend, and hits never take it.
/// </para>
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed class ArenaStore : IDisposable
{
    public const int MinSlotSize = 512;
    public const int MaxSlotSize = 1 << 30;
    public const long TargetArenaBytes = 16L * 1024 * 1024;

    private readonly SizeClass[] _classes;
    private readonly string _name;
    private readonly long _maxReserved;
    private long _reserved;
    private long _slotBytes;
    private int _arenaCount;
    private volatile bool _disposed;

    /// <param name="name">The memfd name every arena carries (/proc/PID/maps shows it).</param>
    /// <param name="maxFileBytes">The largest file that gets a slot (capped at <see cref="MaxSlotSize"/>).</param>
    /// <param name="maxTotalBytes">The bound on reserved arena bytes.</param>
    public ArenaStore(string name, long maxFileBytes, long maxTotalBytes)
    {
        _name = name;
        _maxReserved = Math.Max(0, maxTotalBytes);
        MaxPayload = Math.Clamp(maxFileBytes, 0, MaxSlotSize);
        var classes = MaxPayload == 0 ? 0 : ClassOf(MaxPayload) + 1;
        _classes = new SizeClass[classes];
        var arenaTarget = Math.Min(TargetArenaBytes, _maxReserved / 8);
        for (var i = 0; i < classes; i++)
        {
            var slotSize = SlotSize(i);
            _classes[i] = new SizeClass(slotSize, (int)Math.Max(1, arenaTarget / slotSize));
        }
    }

    /// <summary>The largest payload that gets a slot.</summary>
    public long MaxPayload { get; }

    /// <summary>Bytes of all arenas alive (mapped), used or free.</summary>
    public long ReservedBytes => Interlocked.Read(ref _reserved);

    /// <summary>Sizes of the slots taken (≥ their payload: the difference is the internal fragmentation).</summary>
    public long SlotBytes => Interlocked.Read(ref _slotBytes);

    /// <summary>Arenas alive: each is one memfd and one mapping.</summary>
    public int ArenaCount => Volatile.Read(ref _arenaCount);

    public int ClassCount => _classes.Length;

    /// <summary>The class of a payload of <paramref name="length"/> bytes (1 ≤ length ≤ <see cref="MaxPayload"/>).</summary>
    public static int ClassOf(long length)
        => length <= MinSlotSize ? 0 : BitOperations.Log2((ulong)length - 1) + 1 - BitOperations.Log2(MinSlotSize);

    public static int SlotSize(int classIndex) => MinSlotSize << classIndex;

    /// <summary>Slots per arena of a class.</summary>
    public int SlotsPerArena(int classIndex) => _classes[classIndex].SlotsPerArena;

    /// <summary>The arenas alive now (tests compare them with /proc/self/maps).</summary>
    public Arena[] Arenas()
    {
        var all = new List<Arena>();
        foreach (var sizeClass in _classes)
        {
            lock (sizeClass.Lock)
            {
                all.AddRange(sizeClass.Arenas);
            }
        }

        return [.. all];
    }

    /// <summary>
    /// A free slot for a payload of <paramref name="length"/> bytes (1 ≤ length ≤ <see cref="MaxPayload"/>),
    /// from an existing arena, or from a new one when the class has no free slot and the new arena
    /// fits within MaxTotalBytes; null otherwise.
    /// </summary>
    public ArenaSlot? TryTake(long length)
    {
        if (_disposed || length <= 0 || length > MaxPayload)
        {
            return null;
        }

        var sizeClass = _classes[ClassOf(length)];
        lock (sizeClass.Lock)
        {
            foreach (var arena in sizeClass.Arenas)
            {
                if (arena.TryTake(out var index))
                {
                    return Taken(arena, index, length);
                }
            }

            var bytes = (long)sizeClass.SlotSize * sizeClass.SlotsPerArena;
            if (!TryReserve(bytes))
            {
                return null;
            }

            var created = Arena.TryCreate(_name, ClassOf(length), sizeClass.SlotSize, sizeClass.SlotsPerArena);
            if (created is null)
            {
                Interlocked.Add(ref _reserved, -bytes);
                return null;
            }

            sizeClass.Arenas.Add(created);
            Interlocked.Increment(ref _arenaCount);
            created.TryTake(out var first);
            return Taken(created, first, length);
        }
    }

    /// <summary>True when one arena of the class of <paramref name="length"/> fits within MaxTotalBytes at all.</summary>
    public bool CanEverFit(long length)
    {
        if (length <= 0 || length > MaxPayload)
        {
            return false;
        }

        return ArenaBytes(length) <= _maxReserved;
    }

    /// <summary>True when the class of <paramref name="length"/> has a free slot in an arena that hands slots out.</summary>
    public bool HasFreeSlot(long length)
    {
        var sizeClass = _classes[ClassOf(length)];
        lock (sizeClass.Lock)
        {
            return sizeClass.Arenas.Exists(static a => !a.Retired && a.Used < a.SlotCount);
        }
    }

    /// <summary>True when the class of <paramref name="length"/> has at least one arena handing slots out.</summary>
    public bool HasArena(long length)
    {
        var sizeClass = _classes[ClassOf(length)];
        lock (sizeClass.Lock)
        {
            return sizeClass.Arenas.Exists(static a => !a.Retired);
        }
    }

    /// <summary>Unmaps one arena of another class than <paramref name="length"/>'s whose slots are all free; false when there is none.</summary>
    public bool TryReleaseEmptyArena(long length)
    {
        var keep = ClassOf(length);
        for (var i = 0; i < _classes.Length; i++)
        {
            if (i == keep)
            {
                continue;
            }

            var sizeClass = _classes[i];
            lock (sizeClass.Lock)
            {
                var empty = sizeClass.Arenas.FindIndex(static a => a.Used == 0);
                if (empty >= 0)
                {
                    Unmap(sizeClass, sizeClass.Arenas[empty]);
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Bytes a new arena of the class of <paramref name="length"/> reserves.</summary>
    public long ArenaBytes(long length)
    {
        var sizeClass = _classes[ClassOf(length)];
        return (long)sizeClass.SlotSize * sizeClass.SlotsPerArena;
    }

    /// <summary>
    /// Stops <paramref name="arena"/> handing out slots; it is unmapped now if none is taken (true),
    /// else when the last one comes back (false).
    /// </summary>
    public bool Retire(Arena arena)
    {
        var sizeClass = _classes[arena.ClassIndex];
        lock (sizeClass.Lock)
        {
            arena.Retired = true;
            if (arena.Used == 0 && sizeClass.Arenas.Contains(arena))
            {
                Unmap(sizeClass, arena);
                return true;
            }

            return false;
        }
    }

    /// <summary>
    /// True when a slot of this arena covers whole pages, so its pages can be punched out of the
    /// memfd without touching another slot's (see <see cref="ArenaSlot.Lent"/>).
    /// </summary>
    public static bool CanLend(Arena arena) => arena.SlotSize % Environment.SystemPageSize == 0;

    internal void Return(ArenaSlot slot)
    {
        var arena = slot.Arena;
        var sizeClass = _classes[arena.ClassIndex];
        lock (sizeClass.Lock)
        {
            Interlocked.Add(ref _slotBytes, -arena.SlotSize);
            if (slot.Lent && Native.Interop.PunchHole(arena.Memfd, slot.Offset, arena.SlotSize) != Native.Errno.None)
            {
                // The pages may still be a socket's: never write them again. The slot stays taken
                // (its arena is never unmapped before the cache is disposed, and then only if empty).
                return;
            }

            arena.Return(slot.Index);
            if (arena.Retired && arena.Used == 0)
            {
                Unmap(sizeClass, arena);
            }
        }
    }

    /// <summary>
    /// Retires every arena: those with no slot taken are unmapped now, the others when responses
    /// still holding their slots let go.
    /// </summary>
    public void Dispose()
    {
        _disposed = true;
        foreach (var sizeClass in _classes)
        {
            lock (sizeClass.Lock)
            {
                foreach (var arena in sizeClass.Arenas.ToArray())
                {
                    arena.Retired = true;
                    if (arena.Used == 0)
                    {
                        Unmap(sizeClass, arena);
                    }
                }
            }
        }
    }

    private ArenaSlot Taken(Arena arena, int index, long length)
    {
        Interlocked.Add(ref _slotBytes, arena.SlotSize);
        return new ArenaSlot(this, arena, index, (int)length);
    }

    private bool TryReserve(long bytes)
    {
        var reserved = Interlocked.Read(ref _reserved);
        while (reserved + bytes <= _maxReserved)
        {
            var seen = Interlocked.CompareExchange(ref _reserved, reserved + bytes, reserved);
            if (seen == reserved)
            {
                return true;
            }

            reserved = seen;
        }

        return false;
    }

    /// <summary>Caller holds the class lock; no slot of <paramref name="arena"/> is taken.</summary>
    private void Unmap(SizeClass sizeClass, Arena arena)
    {
        sizeClass.Arenas.Remove(arena);
        arena.Release();
        Interlocked.Add(ref _reserved, -arena.Bytes);
        Interlocked.Decrement(ref _arenaCount);
    }

    private sealed class SizeClass(int slotSize, int slotsPerArena)
    {
        public readonly Lock Lock = new();
        public readonly List<Arena> Arenas = [];
        public readonly int SlotSize = slotSize;
        public readonly int SlotsPerArena = slotsPerArena;
    }
}

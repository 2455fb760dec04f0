using System.Globalization;
using System.Runtime.Versioning;
using ZeroCopy.AspNetCore.Caching;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Tests.Caching;

/// <summary>What /proc/self/maps and the cache say about a cache's arenas.</summary>
[SupportedOSPlatform("linux")]
internal static class ArenaProbe
{
    /// <summary>Inodes of the memfds named <paramref name="name"/> mapped now (one per mapping's file).</summary>
    public static HashSet<ulong> MappedInodes(string name)
        => File.ReadLines("/proc/self/maps")
            .Where(line => line.Contains("/memfd:" + name + " ", StringComparison.Ordinal) || line.EndsWith("/memfd:" + name + " (deleted)", StringComparison.Ordinal))
            .Select(line => ulong.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[4], CultureInfo.InvariantCulture))
            .ToHashSet();

    /// <summary>Mapping lines of memfds named <paramref name="name"/> (an arena is mapped once: one line each).</summary>
    public static int MappingLines(string name)
        => File.ReadLines("/proc/self/maps")
            .Count(line => line.Contains("/memfd:" + name + " ", StringComparison.Ordinal) || line.EndsWith("/memfd:" + name + " (deleted)", StringComparison.Ordinal));

    public static ulong Inode(Arena arena)
    {
        Assert.Equal(Errno.None, Interop.FStat(arena.Memfd, out var status));
        return status.Inode;
    }

    /// <summary>
    /// The cache's memfd mappings are exactly its arenas (one mapping each, no other), the reserved
    /// bytes are their sizes and within <paramref name="maxTotalBytes"/>, and every entry's slot lies
    /// inside a live arena of its class.
    /// </summary>
    public static void AssertMappingsAreTheArenas(FileCache cache, long maxTotalBytes)
    {
        var arenas = cache.Arenas.Arenas();
        Assert.Equal(arenas.Length, cache.Arenas.ArenaCount);
        Assert.Equal(arenas.Select(Inode).ToHashSet(), MappedInodes(cache.MemfdName));
        Assert.Equal(arenas.Length, MappingLines(cache.MemfdName));
        Assert.Equal(arenas.Sum(a => a.Bytes), cache.ReservedBytes);
        Assert.InRange(cache.ReservedBytes, 0, maxTotalBytes);
        foreach (var entry in cache.Entries())
        {
            if (entry.Slot is not { } slot)
            {
                Assert.True(entry.Version.Length == 0 || !entry.IsCopy, $"{entry.FilePath}: a copy of {entry.Version.Length} bytes without a slot");
                continue;
            }

            Assert.Contains(slot.Arena, arenas);
            Assert.Equal(ArenaStore.ClassOf(slot.Length), slot.Arena.ClassIndex);
            Assert.InRange(slot.Index, 0, slot.Arena.SlotCount - 1);
            Assert.InRange(slot.Length, 1, slot.Arena.SlotSize);
            Assert.True(slot.Offset + slot.Arena.SlotSize <= slot.Arena.Bytes, $"{entry.FilePath}: slot {slot.Index} ends past its arena");
        }
    }
}

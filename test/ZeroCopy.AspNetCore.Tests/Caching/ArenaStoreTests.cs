using System.Runtime.Versioning;
using ZeroCopy.AspNetCore.Caching;

namespace ZeroCopy.AspNetCore.Tests.Caching;

/// <summary>
/// The arena allocator alone: size classes, arena sizing, the reserved-bytes bound, slot reuse, and
/// when arenas are unmapped (checked in /proc/self/maps). Names differ from the cache's own
/// ("zerocopy-cache-"), so tests that count cache mappings never see these.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class ArenaStoreTests
{
    private readonly string _name = "zc-arena-test-" + Guid.NewGuid().ToString("N")[..12];

    public ArenaStoreTests()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("Arenas are memfds: Linux only.");
        }
    }

    [Theory]
    [InlineData(1, 512)]
    [InlineData(256, 512)]
    [InlineData(511, 512)]
    [InlineData(512, 512)]
    [InlineData(513, 1024)]
    [InlineData(1024, 1024)]
    [InlineData(1025, 2048)]
    [InlineData(4096, 4096)]
    [InlineData(4097, 8192)]
    [InlineData(20_000, 32768)]
    [InlineData(1 << 20, 1 << 20)]
    [InlineData((1 << 20) + 1, 2 << 20)]
    public void A_file_takes_the_smallest_power_of_two_class_of_at_least_512_bytes(long length, int slotSize)
        => Assert.Equal(slotSize, ArenaStore.SlotSize(ArenaStore.ClassOf(length)));

    [Fact]
    public void A_slot_is_under_twice_its_payload_above_256_bytes_and_512_bytes_below()
    {
        for (long length = 1; length <= 300_000; length++)
        {
            long slot = ArenaStore.SlotSize(ArenaStore.ClassOf(length));
            Assert.True(slot >= length, $"{length} B in a {slot} B slot");
            if (length > 256)
            {
                Assert.True(slot < 2 * length, $"{length} B in a {slot} B slot");
            }
            else
            {
                Assert.Equal(512, slot);
            }
        }
    }

    [Theory]
    [InlineData(1 << 20, 256L << 20, 512, 32768)]
    [InlineData(1 << 20, 256L << 20, 1 << 20, 16)]
    [InlineData(20_000, 50_000, 16384, 1)]
    [InlineData(20_000, 50_000, 32768, 1)]
    [InlineData(4096, 32768, 512, 8)]
    [InlineData(4096, 32768, 4096, 1)]
    public void Arenas_hold_16_MiB_at_most_an_eighth_of_MaxTotalBytes_and_at_least_one_slot(long maxFileBytes, long maxTotalBytes, int slotSize, int slots)
    {
        using var store = new ArenaStore(_name, maxFileBytes, maxTotalBytes);
        Assert.Equal(slots, store.SlotsPerArena(ArenaStore.ClassOf(slotSize)));
    }

    [Fact]
    public void MaxFileBytes_gets_a_slot_of_its_class_and_one_byte_more_gets_none()
    {
        using var store = new ArenaStore(_name, 20_000, 256L << 20);
        Assert.Equal(7, store.ClassCount);
        var largest = store.TryTake(20_000);
        Assert.NotNull(largest);
        Assert.Equal(32768, largest.Arena.SlotSize);
        Assert.Null(store.TryTake(20_001));
        Assert.Null(store.TryTake(0));
        largest.Free();
    }

    [Fact]
    public void Reserved_bytes_never_exceed_MaxTotalBytes_while_slots_are_taken_and_freed_at_random()
    {
        const long MaxTotal = 32768;
        using var store = new ArenaStore(_name, 4096, MaxTotal);
        var random = new Random(7);
        var taken = new List<ArenaSlot>();
        var refused = 0;
        for (var step = 0; step < 20_000; step++)
        {
            if (taken.Count > 0 && random.Next(3) == 0)
            {
                var i = random.Next(taken.Count);
                taken[i].Free();
                taken.RemoveAt(i);
            }
            else if (store.TryTake(random.Next(1, 4097)) is { } slot)
            {
                taken.Add(slot);
            }
            else
            {
                refused++;
            }

            Assert.InRange(store.ReservedBytes, 0, MaxTotal);
            Assert.InRange(store.SlotBytes, 0, store.ReservedBytes);
            Assert.Equal(taken.Sum(s => (long)s.Arena.SlotSize), store.SlotBytes);
        }

        // The bound was reached (refusals happened), and no slot was handed out twice.
        Assert.True(refused > 0, "MaxTotalBytes was never reached");
        Assert.Equal(taken.Count, taken.Select(s => (s.Arena, s.Index)).Distinct().Count());
        Assert.Equal(store.ArenaCount, ArenaProbe.MappingLines(_name));
        foreach (var slot in taken)
        {
            slot.Free();
        }
    }

    [Fact]
    public void A_freed_slot_is_reused_without_a_new_arena_and_a_taken_one_never()
    {
        using var store = new ArenaStore(_name, 4096, 256L << 20);
        var first = store.TryTake(4000)!;
        var second = store.TryTake(4000)!;
        Assert.Same(first.Arena, second.Arena);
        Assert.NotEqual(first.Index, second.Index);
        Assert.Equal(1, store.ArenaCount);

        first.Free();
        first.Free();
        var third = store.TryTake(3000)!;
        Assert.Same(first.Arena, third.Arena);
        Assert.Equal(first.Index, third.Index);
        Assert.Equal(1, store.ArenaCount);
        Assert.Equal(1, ArenaProbe.MappingLines(_name));
        Assert.Equal(2L * 4096, store.SlotBytes);
        second.Free();
        third.Free();
    }

    [Fact]
    public void A_retired_or_disposed_arena_is_unmapped_only_when_its_last_slot_comes_back()
    {
        var store = new ArenaStore(_name, 4096, 256L << 20);
        var held = store.TryTake(100)!;
        var other = store.TryTake(2000)!;
        other.Free();
        Assert.Equal(2, ArenaProbe.MappingLines(_name));

        store.Dispose();

        // The 2 KiB class's arena had no slot taken: gone at once. The 512 B one waits for `held`.
        Assert.Equal(1, ArenaProbe.MappingLines(_name));
        Assert.Equal(1, store.ArenaCount);
        Assert.Equal(held.Arena.Bytes, store.ReservedBytes);
        Assert.Null(store.TryTake(100));
        held.Content.ToArray();
        held.Free();
        Assert.Equal(0, ArenaProbe.MappingLines(_name));
        Assert.Equal(0, store.ArenaCount);
        Assert.Equal(0, store.ReservedBytes);
    }

    [Fact]
    public void A_class_without_free_slots_or_room_is_refused_until_an_empty_arena_of_another_class_is_released()
    {
        // 4 KiB of room; arenas of MaxTotalBytes / 8 = 512 B: one 512 B slot, or one 4 KiB slot (never less than one).
        using var store = new ArenaStore(_name, 4096, 4096);
        var small = store.TryTake(100)!;
        Assert.Equal(512, small.Arena.Bytes);
        var big = store.TryTake(4000);
        Assert.Null(big);

        Assert.False(store.TryReleaseEmptyArena(4000));
        small.Free();
        Assert.True(store.TryReleaseEmptyArena(4000));
        Assert.Equal(0, store.ReservedBytes);
        big = store.TryTake(4000);
        Assert.NotNull(big);
        Assert.Equal(4096, store.ReservedBytes);
        big.Free();
    }

    [Fact]
    public void A_lent_slot_is_punched_out_before_reuse_and_an_unlent_one_keeps_its_pages()
    {
        using var store = new ArenaStore(_name, 1 << 16, 256L << 20);
        Assert.False(ArenaStore.CanLend(store.TryTake(100)!.Arena));
        var page = Environment.SystemPageSize;
        var lent = store.TryTake(page)!;
        Assert.True(ArenaStore.CanLend(lent.Arena));
        lent.Arena.Span(lent.Index, page).Fill(0xAB);
        lent.Lent = true;
        lent.Free();
        var reused = store.TryTake(page)!;
        Assert.Equal(lent.Index, reused.Index);
        Assert.True(reused.Content.IndexOfAnyExcept((byte)0) < 0, "the lent slot's old bytes are still in the file");

        reused.Arena.Span(reused.Index, page).Fill(0xCD);
        reused.Free();
        var again = store.TryTake(page)!;
        Assert.Equal(reused.Index, again.Index);
        Assert.True(again.Content.IndexOfAnyExcept((byte)0xCD) < 0, "an unlent slot was punched");
        again.Free();
    }
}

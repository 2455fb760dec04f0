using ZeroCopy.AspNetCore.Caching;

namespace ZeroCopy.AspNetCore.Tests.Caching;

/// <summary>The admission counter: exact for one file, rarely confused between files, forgetting.</summary>
public sealed class RequestCounterTests
{
    [Fact]
    public void One_file_is_counted_exactly_and_an_estimate_counts_nothing()
    {
        var counter = new RequestCounter();
        var key = new CacheKey("/app.js", 0);

        Assert.Equal(0, counter.Estimate(key));
        Assert.Equal([1, 2, 3], [counter.Increment(key), counter.Increment(key), counter.Increment(key)]);
        Assert.Equal(1, counter.Increment(new CacheKey("/app.js", 1)));
        Assert.Equal(3, counter.Estimate(key));
        Assert.Equal(3, counter.Estimate(key));
        Assert.Equal(4, counter.Increment(key));
    }

    [Fact]
    public void Ten_thousand_files_asked_for_once_almost_never_look_asked_for_twice()
    {
        var counter = new RequestCounter();
        var confused = 0;
        for (var i = 0; i < 10_000; i++)
        {
            if (counter.Increment(new CacheKey($"/small/{i / 100:D2}/{i:D4}.bin", 0)) > 1)
            {
                confused++;
            }
        }

        // The i-th file finds both its counters taken with probability about (i / 32,768)²: about
        // 310 in all (standard deviation ~17); a dictionary would have none, one row about 1,500.
        Assert.InRange(confused, 0, 400);
    }

    [Fact]
    public void Counts_halve_after_eight_times_the_width_in_increments()
    {
        var counter = new RequestCounter();
        var hot = new CacheKey("/hot.js", 0);
        for (var i = 0; i < 100; i++)
        {
            counter.Increment(hot);
        }

        Assert.Equal(0, counter.Epoch);
        var filler = new CacheKey("/other.js", 0);
        for (var i = 0; i < (RequestCounter.Width * 8) - 100; i++)
        {
            counter.Increment(filler);
        }

        // The increment that completes 8 × Width (the filler's last) halved every counter and
        // started an epoch.
        Assert.Equal(1, counter.Epoch);
        Assert.InRange(counter.Increment(hot), 50, 52);
        Assert.Equal(1, counter.Epoch);
    }

    [Fact]
    public void An_entry_frequency_starts_at_its_estimate_counts_hits_and_halves_with_each_epoch()
    {
        var entry = new CacheEntry(new CacheKey("/a.js", 0), "/a.js", null!, null, null, isCopy: true, null, 0);
        entry.StartFrequency(3, epoch: 5);
        Assert.Equal(3, entry.Frequency(5));

        entry.CountHit(5);
        entry.CountHit(5);
        Assert.Equal(5, entry.Frequency(5));

        // Two agings later: 5 >> 2; a hit then counts on the aged value.
        Assert.Equal(1, entry.Frequency(7));
        entry.CountHit(7);
        Assert.Equal(2, entry.Frequency(7));
        Assert.Equal(0, entry.Frequency(7 + 40));

        entry.StartFrequency(int.MaxValue, epoch: 0);
        entry.CountHit(0);
        Assert.Equal(CacheEntry.MaxFrequency, entry.Frequency(0));
    }
}

using ZeroCopy.AspNetCore.Caching;

namespace ZeroCopy.AspNetCore.Tests.Caching;

/// <summary>The admission counter: exact for one file, rarely confused between files, forgetting.</summary>
public sealed class RequestCounterTests
{
    [Fact]
    public void One_file_is_counted_exactly_and_reset_on_admission()
    {
        var counter = new RequestCounter();
        var key = new CacheKey("/app.js", 0);

        Assert.Equal([1, 2, 3], [counter.Increment(key), counter.Increment(key), counter.Increment(key)]);
        Assert.Equal(1, counter.Increment(new CacheKey("/app.js", 1)));

        counter.Reset(key);
        Assert.Equal(1, counter.Increment(key));
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

        var filler = new CacheKey("/other.js", 0);
        for (var i = 0; i < (RequestCounter.Width * 8) - 100; i++)
        {
            counter.Increment(filler);
        }

        // The increment that completes 8 × Width halves every counter.
        Assert.InRange(counter.Increment(hot), 50, 52);
    }
}

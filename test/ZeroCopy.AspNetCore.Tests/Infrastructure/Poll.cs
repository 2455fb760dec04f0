using System.Diagnostics;

namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

public static class Poll
{
    /// <summary>Re-checks <paramref name="condition"/> every 20 ms until it holds or the timeout passes.</summary>
    public static async Task<bool> UntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            if (stopwatch.Elapsed > timeout)
            {
                return condition();
            }

            await Task.Delay(20);
        }

        return true;
    }

    /// <summary>Re-checks an asynchronous <paramref name="condition"/> every 20 ms until it holds or the timeout passes.</summary>
    public static async Task<bool> UntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (stopwatch.Elapsed > timeout)
            {
                return await condition();
            }

            await Task.Delay(20);
        }

        return true;
    }
}

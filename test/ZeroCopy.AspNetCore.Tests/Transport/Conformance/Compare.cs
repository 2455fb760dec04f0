namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>Runs one scenario on both transports and compares what was observed.</summary>
public static class Compare
{
    private static readonly TransportKind[] s_kinds = [TransportKind.Socket, TransportKind.ZeroCopy];

    /// <summary>Runs the scenario on each transport, stock first, one after the other.</summary>
    public static async Task<IReadOnlyDictionary<TransportKind, T>> RunAsync<T>(Func<TransportKind, Task<T>> scenario)
    {
        var results = new Dictionary<TransportKind, T>();
        foreach (var kind in s_kinds)
        {
            results[kind] = await scenario(kind);
            TestContext.Current.TestOutputHelper?.WriteLine($"{kind}: {results[kind]}");
        }

        return results;
    }

    /// <summary>Runs the scenario on both transports and asserts the observations are equal.</summary>
    public static async Task SameAsync<T>(Func<TransportKind, Task<T>> scenario)
    {
        var results = await RunAsync(scenario);
        Assert.Equal(results[TransportKind.Socket], results[TransportKind.ZeroCopy]);
    }

    /// <summary>
    /// For slow, timer-driven scenarios: runs both transports at the same time, checks each
    /// observation with <paramref name="expect"/> (so a failure names its transport), then asserts
    /// the observations are equal.
    /// </summary>
    public static async Task SameConcurrentlyAsync(Func<TransportKind, Task<string>> scenario, Action<TransportKind, string> expect)
    {
        var runs = s_kinds.Select(async kind => (Kind: kind, Observed: await scenario(kind))).ToList();
        var results = (await Task.WhenAll(runs)).ToDictionary(r => r.Kind, r => r.Observed);
        foreach (var kind in s_kinds)
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"{kind}: {results[kind]}");
        }

        foreach (var kind in s_kinds)
        {
            expect(kind, results[kind]);
        }

        Assert.Equal(results[TransportKind.Socket], results[TransportKind.ZeroCopy]);
    }
}

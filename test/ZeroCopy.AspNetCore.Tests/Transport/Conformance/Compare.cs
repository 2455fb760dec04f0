namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>Runs one scenario on every transport and compares what was observed with Kestrel's.</summary>
public static class Compare
{
    /// <summary>
    /// The kinds a comparison runs, stock first: Socket, ZeroCopy and, once the library has the
    /// engine (<see cref="Engines.EventLoopAvailable"/>), EventLoop.
    /// </summary>
    public static IReadOnlyList<TransportKind> Kinds { get; } = Engines.EventLoopAvailable
        ? [TransportKind.Socket, TransportKind.ZeroCopy, TransportKind.EventLoop]
        : [TransportKind.Socket, TransportKind.ZeroCopy];

    /// <summary>Runs the scenario on each transport, stock first, one after the other.</summary>
    public static async Task<IReadOnlyDictionary<TransportKind, T>> RunAsync<T>(Func<TransportKind, Task<T>> scenario)
    {
        NoteMissingKinds();
        var results = new Dictionary<TransportKind, T>();
        foreach (var kind in Kinds)
        {
            results[kind] = await scenario(kind);
            TestContext.Current.TestOutputHelper?.WriteLine($"{kind}: {results[kind]}");
        }

        return results;
    }

    /// <summary>Runs the scenario on every transport and asserts each observation equals Kestrel's socket transport's.</summary>
    public static async Task SameAsync<T>(Func<TransportKind, Task<T>> scenario)
    {
        var results = await RunAsync(scenario);
        AssertSameAsSocket(results);
    }

    /// <summary>
    /// For slow, timer-driven scenarios: runs every transport at the same time, checks each
    /// observation with <paramref name="expect"/> (so a failure names its transport), then asserts
    /// the observations equal Kestrel's socket transport's.
    /// </summary>
    public static async Task SameConcurrentlyAsync(Func<TransportKind, Task<string>> scenario, Action<TransportKind, string> expect)
    {
        NoteMissingKinds();
        var runs = Kinds.Select(async kind => (Kind: kind, Observed: await scenario(kind))).ToList();
        var results = (await Task.WhenAll(runs)).ToDictionary(r => r.Kind, r => r.Observed);
        foreach (var kind in Kinds)
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"{kind}: {results[kind]}");
        }

        foreach (var kind in Kinds)
        {
            expect(kind, results[kind]);
        }

        AssertSameAsSocket(results);
    }

    /// <summary>Each zero-copy kind's observation equals <see cref="TransportKind.Socket"/>'s; a failure names the kind.</summary>
    public static void AssertSameAsSocket<T>(IReadOnlyDictionary<TransportKind, T> results)
    {
        foreach (var (kind, observed) in results)
        {
            if (kind == TransportKind.Socket)
            {
                continue;
            }

            try
            {
                Assert.Equal(results[TransportKind.Socket], observed);
            }
            catch (Xunit.Sdk.XunitException ex)
            {
                throw new Xunit.Sdk.XunitException($"{kind} differs from Socket. {ex.Message}");
            }
        }
    }

    private static void NoteMissingKinds()
    {
        if (!Engines.EventLoopAvailable)
        {
            TestContext.Current.TestOutputHelper?.WriteLine("EventLoop: not compared (the library has no EventLoop engine yet).");
        }
    }
}

namespace ZeroCopy.AspNetCore.Tests.Transport;

/// <summary>
/// The engine matrix of the transport and fault suites is real: the host helpers select the engine,
/// and their guard sees (and would refuse) every connection of the other one.
/// </summary>
public sealed class EngineSelectionTests : IDisposable
{
    private readonly TempDirectory _root = new("zc-engines");

    public void Dispose() => _root.Dispose();

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task The_selected_engine_serves_every_connection_of_a_helper_host(ZeroCopyTransportEngine engine)
    {
        var expected = File.ReadAllBytes(_root.WriteRandom("f.bin", 100_000, seed: 7));
        await using var host = await Hosts.ZeroCopyAsync(HostKind.Kestrel, _root, configureBuilder: b => Engines.Use(b, engine));

        Assert.Equal(expected, await host.Client.GetByteArrayAsync("/f.bin", TestContext.Current.CancellationToken));

        var guard = host.Services.GetRequiredService<EngineGuard>();
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join(", ", guard.Types.Select(t => $"{t.Value} × {t.Key}")));
        Assert.Equal(engine, host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ZeroCopyTransportOptions>>().Value.Engine);
        Assert.True(guard.Types.Values.Sum() >= 1, "the guard saw no connection: it is not on the host's endpoint");
        Assert.All(guard.Types.Keys, type => Assert.True(Engines.Serves(engine, type), type));
        Assert.DoesNotContain(host.Logs.Records, r => r.Level >= LogLevel.Error);
    }

    [Fact]
    public void A_connection_belongs_to_the_EventLoop_engine_exactly_when_its_type_is_EventLoopConnection()
    {
        Assert.True(Engines.Serves(ZeroCopyTransportEngine.EventLoop, Engines.EventLoopConnectionTypeName));
        Assert.False(Engines.Serves(ZeroCopyTransportEngine.Sockets, Engines.EventLoopConnectionTypeName));
        Assert.True(Engines.Serves(ZeroCopyTransportEngine.Sockets, "ZeroCopy.AspNetCore.Transport.ZeroCopyConnection"));
        Assert.False(Engines.Serves(ZeroCopyTransportEngine.EventLoop, "ZeroCopy.AspNetCore.Transport.ZeroCopyConnection"));
    }
}

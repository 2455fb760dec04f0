using Microsoft.AspNetCore.Connections;

namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>
/// The engines of the zero-copy transport, for suites that run on each: theory data, the host setup
/// that selects one, and the check that the selected engine really served a connection.
/// </summary>
/// <remarks>
/// The EventLoop cases skip (with a message) until the library has the engine's connection type, and
/// run from the build that adds it: nothing in the suite has to be switched on by hand.
/// </remarks>
public static class Engines
{
    /// <summary>Full name of the EventLoop engine's Kestrel <c>ConnectionContext</c>.</summary>
    public const string EventLoopConnectionTypeName = "ZeroCopy.AspNetCore.Transport.EventLoop.EventLoopConnection";

    /// <summary>True once the library has the EventLoop engine.</summary>
    public static bool EventLoopAvailable { get; } = Type.GetType(EventLoopConnectionTypeName + ", ZeroCopy.AspNetCore") is not null;

    /// <summary>Every engine, for <c>[MemberData]</c>.</summary>
    public static TheoryData<ZeroCopyTransportEngine> All => [ZeroCopyTransportEngine.Sockets, ZeroCopyTransportEngine.EventLoop];

    /// <summary>Each engine with each value.</summary>
    public static TheoryData<ZeroCopyTransportEngine, T> Cross<T>(params T[] values)
        => new(Enum.GetValues<ZeroCopyTransportEngine>().SelectMany(_ => values, static (engine, value) => (engine, value)));

    /// <summary>Each engine with each row.</summary>
    public static TheoryData<ZeroCopyTransportEngine, T1, T2> Cross<T1, T2>(params (T1, T2)[] rows)
        => new(Enum.GetValues<ZeroCopyTransportEngine>().SelectMany(_ => rows, static (engine, row) => (engine, row.Item1, row.Item2)));

    /// <summary>Each engine with each row.</summary>
    public static TheoryData<ZeroCopyTransportEngine, T1, T2, T3> Cross<T1, T2, T3>(params (T1, T2, T3)[] rows)
        => new(Enum.GetValues<ZeroCopyTransportEngine>().SelectMany(_ => rows, static (engine, row) => (engine, row.Item1, row.Item2, row.Item3)));

    /// <summary>Skips the test when <paramref name="engine"/> cannot run here.</summary>
    public static void Require(ZeroCopyTransportEngine engine)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "The zero-copy transport needs Linux.");
        Assert.SkipWhen(
            engine == ZeroCopyTransportEngine.EventLoop && !EventLoopAvailable,
            $"The EventLoop engine is not in this build of the library (no type {EventLoopConnectionTypeName}); its cases run once it is.");
    }

    /// <summary>The command-line argument that selects <paramref name="engine"/> in a server process.</summary>
    public static string Argument(ZeroCopyTransportEngine engine) => "--ZeroCopyStaticFiles:Transport:Engine=" + engine;

    /// <summary>True when a connection of the type named <paramref name="connectionType"/> (full name) belongs to <paramref name="engine"/>.</summary>
    public static bool Serves(ZeroCopyTransportEngine engine, string? connectionType)
        => string.Equals(connectionType, EventLoopConnectionTypeName, StringComparison.Ordinal) == (engine == ZeroCopyTransportEngine.EventLoop);

    /// <summary>
    /// Selects <paramref name="engine"/> in code (skipping when it cannot run here), and guards every
    /// endpoint with an <see cref="EngineGuard"/> (a singleton of the host): a connection of the other
    /// engine is refused with an exception, which Kestrel logs at Error with the connection's type, so
    /// a host that silently ran the other engine fails its test.
    /// </summary>
    /// <remarks>The guard is Kestrel's <c>ConfigureEndpointDefaults</c>, which a later call would replace.</remarks>
    public static void Use(WebApplicationBuilder builder, ZeroCopyTransportEngine engine)
    {
        Require(engine);
        var guard = new EngineGuard(engine);
        builder.Services.AddSingleton(guard);
        builder.Services.Configure<ZeroCopyTransportOptions>(o => o.Engine = engine);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureEndpointDefaults(listen => listen.Use(next => connection => guard.CheckAsync(connection, next))));
    }
}

/// <summary>Connection middleware that lets through only connections of one engine, and counts them.</summary>
public sealed class EngineGuard(ZeroCopyTransportEngine engine)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _types = new(StringComparer.Ordinal);

    public ZeroCopyTransportEngine Engine => engine;

    /// <summary>Full names of the connection types that passed, with their counts.</summary>
    public IReadOnlyDictionary<string, int> Types => _types;

    public Task CheckAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var type = connection.GetType().FullName ?? connection.GetType().Name;
        if (!Engines.Serves(engine, type))
        {
            throw new InvalidOperationException($"The {engine} engine was selected, but connection {connection.ConnectionId} is a {type}.");
        }

        _types.AddOrUpdate(type, 1, static (_, n) => n + 1);
        return next(connection);
    }
}

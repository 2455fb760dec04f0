using System.Globalization;

namespace ZeroCopy.AspNetCore.PerfHost;

/// <summary>
/// The transport engine switches (issue 15) as configuration for the library:
/// <c>ZeroCopyStaticFiles:Transport:Engine</c> and <c>ZeroCopyStaticFiles:Transport:EventLoopCount</c>.
/// </summary>
/// <remarks>
/// Passed as configuration, never as typed options, so the perf host builds against the library
/// before and after the event-loop engine exists. Whether the library has an engine switch at all is
/// read from the public <see cref="ZeroCopyTransportOptions"/> by name: without one the library has
/// only the Sockets engine, so <c>--engine Sockets</c> (which the harness gives its Sockets rows,
/// to keep them on that engine once the default changes) is satisfied without the key, which the
/// library would log as unknown. Any other engine is passed through even then: the library's
/// unknown-key warning, which the harness quotes, and the ready line say the row did not run it.
/// </remarks>
internal static class EngineSettings
{
    public const string EngineKey = "ZeroCopyStaticFiles:Transport:Engine";
    public const string EventLoopCountKey = "ZeroCopyStaticFiles:Transport:EventLoopCount";
    private const string SocketsEngine = "Sockets";

    /// <summary>Whether this build of the library has an engine switch (<c>ZeroCopyTransportOptions.Engine</c>).</summary>
    public static bool LibraryHasEngine { get; } = typeof(ZeroCopyTransportOptions).GetProperty("Engine") is not null;

    public static IEnumerable<KeyValuePair<string, string?>> For(HostArguments arguments)
    {
        if (arguments.Engine is { } engine && (LibraryHasEngine || !string.Equals(engine, SocketsEngine, StringComparison.Ordinal)))
        {
            yield return new(EngineKey, engine);
        }

        if (arguments.EventLoops is { } loops)
        {
            yield return new(EventLoopCountKey, loops.ToString(CultureInfo.InvariantCulture));
        }
    }

    /// <summary>The ready line's engine fields: what was asked for and whether the library can do it.</summary>
    public static string Describe(HostArguments arguments)
        => arguments.Implementation == Implementation.Stock
            ? "engine=kestrel-sockets"
            : string.Create(CultureInfo.InvariantCulture,
                $"engine={arguments.Engine ?? "default"} engine-option={(LibraryHasEngine ? "present" : "missing")} event-loops={(arguments.EventLoops is { } n ? n.ToString(CultureInfo.InvariantCulture) : "default")}");
}

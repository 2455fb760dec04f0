using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;

namespace ZeroCopy.AspNetCore.Tests.Differential;

/// <summary>
/// Counts <c>zerocopy.responses</c> by <c>zerocopy.strategy</c> (README, Observability) for one
/// host: only the meter created by that host's <see cref="IMeterFactory"/> is listened to, so tests
/// running in parallel do not interfere. Shows which body path the differential actually exercised.
/// </summary>
public sealed class StrategyCounter : IDisposable
{
    private const string MeterName = "ZeroCopy.AspNetCore";
    private const string ResponsesInstrument = "zerocopy.responses";
    private const string StrategyTag = "zerocopy.strategy";

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);

    public StrategyCounter(IMeterFactory hostMeterFactory)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == MeterName && instrument.Name == ResponsesInstrument && ReferenceEquals(instrument.Meter.Scope, hostMeterFactory))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == StrategyTag)
                {
                    var strategy = Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? "?";
                    _counts.AddOrUpdate(strategy, value, (_, n) => n + value);
                }
            }
        });
        _listener.Start();
    }

    /// <summary>Responses counted for <paramref name="strategy"/> ("stream", "sendfile", "splice", "hot-cache").</summary>
    public long this[string strategy] => _counts.GetValueOrDefault(strategy);

    public override string ToString()
        => _counts.IsEmpty ? "(none)" : string.Join(", ", _counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} {c.Value}"));

    public void Dispose() => _listener.Dispose();
}

using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>
/// Sums the ZeroCopy.AspNetCore counters of one host (meters are matched by the host's
/// IMeterFactory, so tests running in parallel do not see each other's numbers).
/// </summary>
public sealed class MetricsCollector : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _totals = new();
    private readonly ConcurrentDictionary<string, long> _gauges = new();

    public MetricsCollector(IMeterFactory factory)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "ZeroCopy.AspNetCore" && ReferenceEquals(instrument.Meter.Scope, factory))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var key = instrument.Name;
            foreach (var tag in tags)
            {
                key += $"|{tag.Key}={tag.Value}";
            }

            if (instrument is ObservableGauge<long>)
            {
                _gauges[instrument.Name] = value;
                _gauges[key] = value;
                return;
            }

            _totals.AddOrUpdate(key, value, (_, old) => old + value);
        });
        _listener.Start();
    }

    /// <summary>Total of <paramref name="instrument"/> with one tag value, e.g. ("zerocopy.responses", "sendfile").</summary>
    public long Get(string instrument, string tagValue)
        => _totals.Where(p => p.Key.StartsWith(instrument + "|", StringComparison.Ordinal) && p.Key.EndsWith("=" + tagValue, StringComparison.Ordinal)).Sum(p => p.Value);

    /// <summary>Total of an instrument over all tag values (or of an untagged counter).</summary>
    public long Total(string instrument)
        => _totals.Where(p => p.Key == instrument || p.Key.StartsWith(instrument + "|", StringComparison.Ordinal)).Sum(p => p.Value);

    public long Responses(string strategy) => Get("zerocopy.responses", strategy);

    public long Bytes(string strategy) => Get("zerocopy.response.bytes", strategy);

    public long Fallbacks(string reason) => Get("zerocopy.fallbacks", reason);

    /// <summary>Reads the observable gauges now (cache bytes and entries) and returns the value of one.</summary>
    public long Gauge(string instrument)
    {
        _gauges.Clear();
        _listener.RecordObservableInstruments();
        return _gauges.GetValueOrDefault(instrument);
    }

    /// <summary>Reads the observable gauges now and returns one measurement of a tagged gauge, e.g. ("zerocopy.transport.connections", "0"); null when it has none.</summary>
    public long? Gauge(string instrument, string tagValue)
    {
        _gauges.Clear();
        _listener.RecordObservableInstruments();
        var found = _gauges.Where(p => p.Key.StartsWith(instrument + "|", StringComparison.Ordinal) && p.Key.EndsWith("=" + tagValue, StringComparison.Ordinal)).ToList();
        return found.Count == 0 ? null : found[0].Value;
    }

    public string Dump() => string.Join(", ", _totals.OrderBy(p => p.Key).Select(p => $"{p.Key}={p.Value}"));

    public void Dispose() => _listener.Dispose();
}

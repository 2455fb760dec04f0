using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text;
using System.Text.Json;

namespace ZeroCopy.AspNetCore.PerfHost;

/// <summary>
/// Listens to the library's meter (<c>ZeroCopy.AspNetCore</c>) so the harness can tell which
/// strategy really produced the bodies (a SendFile server that falls back to Stream must not be
/// reported as SendFile). Served as JSON at <see cref="Path"/>.
/// </summary>
/// <remarks>
/// Cost while measuring: one callback and one interlocked add per counter increment (two or three
/// per response), only in the ZeroCopy host; stock has no such meter.
/// </remarks>
internal sealed class StrategyCounters : IDisposable
{
    public const string Path = "/_perf/counters";
    private const string MeterName = "ZeroCopy.AspNetCore";

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, StrongBox> _values = new(StringComparer.Ordinal);

    public StrategyCounters()
    {
        _listener.InstrumentPublished = static (instrument, listener) =>
        {
            if (instrument.Meter.Name == MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.Start();
    }

    private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        var key = new StringBuilder(instrument.Name);
        foreach (var tag in tags)
        {
            key.Append('|').Append(tag.Key).Append('=').Append(tag.Value);
        }

        var box = _values.GetOrAdd(key.ToString(), static _ => new StrongBox());
        Interlocked.Add(ref box.Value, value);
    }

    public Task WriteAsync(HttpContext context)
    {
        var snapshot = _values.ToDictionary(static pair => pair.Key, static pair => Interlocked.Read(ref pair.Value.Value), StringComparer.Ordinal);
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(snapshot));
    }

    public void Dispose() => _listener.Dispose();

    private sealed class StrongBox
    {
        public long Value;
    }
}

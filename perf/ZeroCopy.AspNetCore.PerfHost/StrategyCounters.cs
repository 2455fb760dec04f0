using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text.Json;

namespace ZeroCopy.AspNetCore.PerfHost;

/// <summary>
/// Listens to the library's meter (<c>ZeroCopy.AspNetCore</c>) so the harness can tell which
/// strategy really produced the bodies (a SendFile server that falls back to Stream must not be
/// reported as SendFile), and reports the process's garbage collections (both hosts). Served as
/// JSON at <see cref="Path"/>.
/// </summary>
/// <remarks>
/// Cost while measuring: per counter increment (two or three per response, only in the ZeroCopy
/// host; stock has no such meter) one callback, one dictionary lookup keyed by the instrument and
/// the tag's value (both objects the library reuses) and one interlocked add; nothing is
/// allocated once a key has been seen. An earlier version built a string key per measurement,
/// which made the measured host allocate for the measuring.
/// </remarks>
internal sealed class StrategyCounters : IDisposable
{
    public const string Path = "/_perf/counters";
    private const string MeterName = "ZeroCopy.AspNetCore";

    private readonly MeterListener? _listener;
    private readonly ConcurrentDictionary<(Instrument Instrument, string? TagKey, object? TagValue), StrongBox> _values = new();

    /// <param name="listen">False for the stock host: GC figures only.</param>
    public StrategyCounters(bool listen)
    {
        if (!listen)
        {
            return;
        }

        _listener = new MeterListener
        {
            InstrumentPublished = static (instrument, listener) =>
            {
                if (instrument.Meter.Name == MeterName)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.Start();
    }

    private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        // The library tags each measurement with at most one tag, whose value is a cached string.
        var key = tags.Length == 0 ? (instrument, null, null) : (instrument, tags[0].Key, tags[0].Value);
        var box = _values.GetOrAdd(key, static _ => new StrongBox());
        Interlocked.Add(ref box.Value, value);
    }

    public Task WriteAsync(HttpContext context)
    {
        var snapshot = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (key, box) in _values)
        {
            var name = key.TagKey is null ? key.Instrument.Name : $"{key.Instrument.Name}|{key.TagKey}={key.TagValue}";
            snapshot[name] = snapshot.GetValueOrDefault(name) + Interlocked.Read(ref box.Value);
        }

        // Process-wide, read outside the measured window by the harness.
        snapshot["gc.gen0"] = GC.CollectionCount(0);
        snapshot["gc.gen1"] = GC.CollectionCount(1);
        snapshot["gc.gen2"] = GC.CollectionCount(2);
        snapshot["gc.allocated.bytes"] = GC.GetTotalAllocatedBytes(precise: false);
        snapshot["gc.pause.us"] = (long)GC.GetTotalPauseDuration().TotalMicroseconds;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(snapshot));
    }

    public void Dispose() => _listener?.Dispose();

    private sealed class StrongBox
    {
        public long Value;
    }
}

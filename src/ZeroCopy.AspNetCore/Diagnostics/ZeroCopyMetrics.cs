using System.Diagnostics.Metrics;

namespace ZeroCopy.AspNetCore.Diagnostics;

/// <summary>
/// The library's instruments, on the meter <c>ZeroCopy.AspNetCore</c> created through
/// <see cref="IMeterFactory"/>.
/// </summary>
internal sealed class ZeroCopyMetrics : IDisposable
{
    public const string MeterName = "ZeroCopy.AspNetCore";
    public const string StrategyTag = "zerocopy.strategy";
    public const string ReasonTag = "zerocopy.fallback.reason";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _responses;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _fallbacks;

    public ZeroCopyMetrics(IMeterFactory? meterFactory)
    {
        if (meterFactory is null)
        {
            _meter = new Meter(MeterName);
            _ownsMeter = true;
        }
        else
        {
            _meter = meterFactory.Create(MeterName);
        }

        _responses = _meter.CreateCounter<long>(
            "zerocopy.responses",
            unit: "{response}",
            description: "File responses with a body, by the strategy that produced the body.");
        _bytes = _meter.CreateCounter<long>(
            "zerocopy.response.bytes",
            unit: "By",
            description: "File body bytes handed to the connection, by strategy.");
        _fallbacks = _meter.CreateCounter<long>(
            "zerocopy.fallbacks",
            unit: "{response}",
            description: "Responses that could not use the configured zero-copy mode, by reason.");
    }

    public void ResponseSent(ResponseStrategy strategy, long bytes)
    {
        var tag = new KeyValuePair<string, object?>(StrategyTag, strategy.Name());
        _responses.Add(1, tag);
        if (bytes > 0)
        {
            _bytes.Add(bytes, tag);
        }
    }

    public void Fallback(FallbackReason reason)
        => _fallbacks.Add(1, new KeyValuePair<string, object?>(ReasonTag, reason.Name()));

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}

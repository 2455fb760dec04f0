using System.Collections.Concurrent;

namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>An <see cref="ILoggerProvider"/> that keeps every record for assertions.</summary>
public sealed class LogCollector : ILoggerProvider
{
    private readonly ConcurrentQueue<LogRecord> _records = new();

    public IReadOnlyCollection<LogRecord> Records => _records;

    public IEnumerable<LogRecord> ForEvent(string eventName) => _records.Where(r => r.EventId.Name == eventName);

    public ILogger CreateLogger(string categoryName) => new Collector(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Collector(LogCollector owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => owner._records.Enqueue(new LogRecord(category, logLevel, eventId, formatter(state, exception), exception));
    }
}

public sealed record LogRecord(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception);

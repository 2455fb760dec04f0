using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZeroCopy.AspNetCore.Diagnostics;

namespace ZeroCopy.AspNetCore.Configuration;

/// <summary>
/// The validated settings in effect, and the resources built from them.
/// </summary>
/// <remarks>
/// <para>
/// The first value is validated when this singleton is created (when the middleware or the transport
/// is built, before the server listens) and throws <see cref="OptionsValidationException"/> with
/// every problem. A later change that does not validate is logged once and ignored, so the previous
/// settings stay in effect.
/// </para>
/// <para>
/// A later valid value is compared with the one in effect (<see cref="SettingsComparer"/>): equal
/// (a touched file, another section changed, a save reported twice by the file watcher) changes
/// nothing and logs nothing; cache limits only are applied keeping the cached files that fit; any
/// other difference rebuilds the sites with empty caches. Each applied change is logged once.
/// </para>
/// </remarks>
internal sealed class ZeroCopySettings : IDisposable
{
    private readonly ILogger _logger;
    private readonly string _contentRootPath;
    private readonly IDisposable? _subscription;
    private volatile ZeroCopyStaticFilesOptions _current;
    private readonly Lock _changeLock = new();
    private int _evaluations;

    // The unknown keys of the last valid value, already warned about.
    private HashSet<string> _unknownKeys = [];

    // The problems of the last rejected change: a file watcher reports one save as several changes
    // (each re-reads the same content), and the same problems are logged once.
    private string? _rejected;

    public ZeroCopySettings(IOptionsMonitor<ZeroCopyStaticFilesOptions> monitor, IHostEnvironment environment, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(monitor);
        _logger = loggerFactory.CreateLogger("ZeroCopy.AspNetCore.Configuration");
        _contentRootPath = environment.ContentRootPath;
        IsRegistered = true;

        var initial = monitor.CurrentValue;
        var errors = ZeroCopyOptionsValidator.Validate(initial, _contentRootPath);
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(ZeroCopyStaticFilesOptions), errors);
        }

        ReportUnknownKeys(initial);
        _current = initial;
        _subscription = monitor.OnChange(OnOptionsChanged);
    }

    /// <summary>Fixed settings for an application that did not call <c>AddZeroCopyStaticFiles()</c>.</summary>
    private ZeroCopySettings(ZeroCopyStaticFilesOptions fixedOptions, string contentRootPath, ILoggerFactory loggerFactory)
    {
        _logger = loggerFactory.CreateLogger("ZeroCopy.AspNetCore.Configuration");
        _contentRootPath = contentRootPath;
        _current = fixedOptions;
        IsRegistered = false;
    }

    public static ZeroCopySettings Unregistered(string contentRootPath, ILoggerFactory loggerFactory)
        => new(new ZeroCopyStaticFilesOptions(), contentRootPath, loggerFactory);

    /// <summary>False when <c>AddZeroCopyStaticFiles()</c> was not called.</summary>
    public bool IsRegistered { get; }

    public ZeroCopyStaticFilesOptions Current => _current;

    public string ContentRootPath => _contentRootPath;

    private readonly List<(object State, Action<object> Dispose)> _tracked = [];

    /// <summary>Something to clean up when the application stops (caches of the middleware).</summary>
    public void Track(object state, Action<object> dispose)
    {
        lock (_tracked)
        {
            _tracked.Add((state, dispose));
        }
    }

    /// <summary>
    /// Raised after a valid change was applied, with what it changes (never
    /// <see cref="SettingsChange.None"/>); <see cref="Current"/> is the new value.
    /// </summary>
    public event Action<SettingsChange>? Changed;

    /// <summary>How many configuration changes were looked at, applied or not (tests wait on it).</summary>
    internal int Evaluations => Volatile.Read(ref _evaluations);

    /// <summary>
    /// A new value from the options monitor: compared with <see cref="Current"/>; applied and
    /// announced only when something the library reads changed. Serialized: the configuration
    /// may reload on several threads at once.
    /// </summary>
    private void OnOptionsChanged(ZeroCopyStaticFilesOptions options)
    {
        lock (_changeLock)
        {
            try
            {
                Evaluate(options);
            }
            finally
            {
                Interlocked.Increment(ref _evaluations);
            }
        }
    }

    private void Evaluate(ZeroCopyStaticFilesOptions options)
    {
        var errors = ZeroCopyOptionsValidator.Validate(options, _contentRootPath);
        if (errors.Count > 0)
        {
            var problems = string.Join(Environment.NewLine, errors);
            if (problems != _rejected)
            {
                _rejected = problems;
                ZeroCopyLog.ConfigurationRejected(_logger, errors.Count, problems);
            }
            else
            {
                ZeroCopyLog.ConfigurationStillRejected(_logger);
            }

            return;
        }

        var wasRejected = _rejected is not null;
        _rejected = null;
        var previous = _current;
        ReportUnknownKeys(options);
        var (change, keys) = SettingsComparer.Compare(previous, options);
        if (change == SettingsChange.None)
        {
            if (wasRejected)
            {
                ZeroCopyLog.ConfigurationValidAgain(_logger);
            }

            return;
        }

        _current = options;
        var changed = string.Join(", ", keys);
        if (change == SettingsChange.CacheLimits)
        {
            ZeroCopyLog.CacheLimitsReloaded(_logger, changed);
        }
        else
        {
            ZeroCopyLog.ConfigurationReloaded(_logger, changed);
        }

        Changed?.Invoke(change);
    }

    /// <summary>Warns about an unknown key when it appears, not again on every reload that still has it.</summary>
    private void ReportUnknownKeys(ZeroCopyStaticFilesOptions options)
    {
        foreach (var key in options.UnknownKeys)
        {
            if (!_unknownKeys.Contains(key))
            {
                ZeroCopyLog.UnknownConfigurationKey(_logger, key);
            }
        }

        _unknownKeys = [.. options.UnknownKeys];
    }

    public void Dispose()
    {
        _subscription?.Dispose();
        lock (_tracked)
        {
            foreach (var (state, dispose) in _tracked)
            {
                dispose(state);
            }

            _tracked.Clear();
        }
    }
}

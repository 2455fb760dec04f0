using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ZeroCopy.AspNetCore.Diagnostics;

namespace ZeroCopy.AspNetCore.Configuration;

/// <summary>
/// The validated settings in effect, and the resources built from them.
/// </summary>
/// <remarks>
/// The first value is validated when this singleton is created (when the middleware or the transport
/// is built, before the server listens) and throws <see cref="OptionsValidationException"/> with
/// every problem. A later change that does not validate is logged and ignored, so the previous
/// settings stay in effect.
/// </remarks>
internal sealed class ZeroCopySettings : IDisposable
{
    private readonly ILogger _logger;
    private readonly string _contentRootPath;
    private readonly IDisposable? _subscription;
    private volatile ZeroCopyStaticFilesOptions _current;

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

    /// <summary>Raised after a valid change was applied.</summary>
    public event Action? Changed;

    private void OnOptionsChanged(ZeroCopyStaticFilesOptions options)
    {
        var errors = ZeroCopyOptionsValidator.Validate(options, _contentRootPath);
        if (errors.Count > 0)
        {
            ZeroCopyLog.ConfigurationRejected(_logger, string.Join(" ", errors));
            return;
        }

        ReportUnknownKeys(options);
        _current = options;
        ZeroCopyLog.ConfigurationReloaded(_logger);
        Changed?.Invoke();
    }

    private void ReportUnknownKeys(ZeroCopyStaticFilesOptions options)
    {
        foreach (var key in options.UnknownKeys)
        {
            ZeroCopyLog.UnknownConfigurationKey(_logger, key);
        }
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

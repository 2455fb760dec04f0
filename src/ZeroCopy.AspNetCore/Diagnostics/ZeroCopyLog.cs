using Microsoft.Extensions.Logging;

namespace ZeroCopy.AspNetCore.Diagnostics;

/// <summary>Log events about set-up and configuration (ids 200-299).</summary>
internal static partial class ZeroCopyLog
{
    [LoggerMessage(200, LogLevel.Warning, "UseZeroCopyStaticFiles() is used without AddZeroCopyStaticFiles(): the zero-copy transport is not installed and the '{Section}' configuration section is not read, so files are served by stream copy with the options passed in code. Call builder.Services.AddZeroCopyStaticFiles() to enable them.", EventName = "NotRegistered")]
    public static partial void NotRegistered(ILogger logger, string section);

    [LoggerMessage(201, LogLevel.Information, "ZeroCopyStaticFiles configuration reloaded ({Changed} changed): responses may change, so the hot-file caches were emptied", EventName = "ConfigurationReloaded")]
    public static partial void ConfigurationReloaded(ILogger logger, string changed);

    [LoggerMessage(202, LogLevel.Error, "ZeroCopyStaticFiles configuration change rejected; the previous settings stay in effect. {Count} problem(s):\n{Problems}", EventName = "ConfigurationRejected")]
    public static partial void ConfigurationRejected(ILogger logger, int count, string problems);

    [LoggerMessage(203, LogLevel.Warning, "Unknown configuration key '{Key}' ignored", EventName = "UnknownConfigurationKey")]
    public static partial void UnknownConfigurationKey(ILogger logger, string key);

    [LoggerMessage(204, LogLevel.Information, "ZeroCopyStaticFiles configuration reloaded ({Changed} changed): new cache limits applied, cached files that fit them kept", EventName = "CacheLimitsReloaded")]
    public static partial void CacheLimitsReloaded(ILogger logger, string changed);

    [LoggerMessage(205, LogLevel.Information, "ZeroCopyStaticFiles configuration is valid again and the same as the settings in effect; nothing changed", EventName = "ConfigurationValidAgain")]
    public static partial void ConfigurationValidAgain(ILogger logger);

    [LoggerMessage(206, LogLevel.Debug, "ZeroCopyStaticFiles configuration changed again with the same problems as the last rejected change; the previous settings stay in effect", EventName = "ConfigurationStillRejected")]
    public static partial void ConfigurationStillRejected(ILogger logger);
}

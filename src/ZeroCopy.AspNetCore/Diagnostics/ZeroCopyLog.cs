using Microsoft.Extensions.Logging;

namespace ZeroCopy.AspNetCore.Diagnostics;

/// <summary>Log events about set-up and configuration (ids 200-299).</summary>
internal static partial class ZeroCopyLog
{
    [LoggerMessage(200, LogLevel.Warning, "UseZeroCopyStaticFiles() is used without AddZeroCopyStaticFiles(): the zero-copy transport is not installed and the '{Section}' configuration section is not read, so files are served by stream copy with the options passed in code. Call builder.Services.AddZeroCopyStaticFiles() to enable them.", EventName = "NotRegistered")]
    public static partial void NotRegistered(ILogger logger, string section);

    [LoggerMessage(201, LogLevel.Information, "ZeroCopyStaticFiles configuration reloaded", EventName = "ConfigurationReloaded")]
    public static partial void ConfigurationReloaded(ILogger logger);

    [LoggerMessage(202, LogLevel.Error, "ZeroCopyStaticFiles configuration change rejected; the previous settings stay in effect. {Problems}", EventName = "ConfigurationRejected")]
    public static partial void ConfigurationRejected(ILogger logger, string problems);

    [LoggerMessage(203, LogLevel.Warning, "Unknown configuration key '{Key}' ignored", EventName = "UnknownConfigurationKey")]
    public static partial void UnknownConfigurationKey(ILogger logger, string key);
}

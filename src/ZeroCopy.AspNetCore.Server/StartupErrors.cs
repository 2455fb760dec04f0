using Microsoft.Extensions.Options;

namespace ZeroCopy.AspNetCore.Server;

/// <summary>
/// What the server prints, and the exit code it ends with, when it cannot start: a message a
/// person can act on instead of an unhandled exception (which aborts the runtime: SIGABRT, exit
/// status 134, and a stack trace).
/// </summary>
internal static class StartupErrors
{
    /// <summary>EX_USAGE from sysexits.h: the command line was wrong.</summary>
    public const int ExitUsage = 64;

    /// <summary>EX_CONFIG from sysexits.h: a configuration error.</summary>
    public const int ExitConfiguration = 78;

    public static void Usage(string problem)
    {
        Console.Error.WriteLine($"ZeroCopy.AspNetCore.Server: {problem}");
        Console.Error.WriteLine("Usage: ZeroCopy.AspNetCore.Server [--root DIR] [--urls URL] [--Section:Key=value ...]");
    }

    /// <summary>One line per problem, each naming the key, the value and what is allowed.</summary>
    public static void InvalidSettings(OptionsValidationException exception)
    {
        var failures = exception.Failures.ToList();
        Console.Error.WriteLine($"ZeroCopy.AspNetCore.Server: not started: {failures.Count} invalid setting{(failures.Count == 1 ? string.Empty : "s")} (appsettings.json, environment variables such as ZeroCopyStaticFiles__Mode, or the command line):");
        foreach (var failure in failures)
        {
            Console.Error.WriteLine("  " + failure);
        }
    }
}

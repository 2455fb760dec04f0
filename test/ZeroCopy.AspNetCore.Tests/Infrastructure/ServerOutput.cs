using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>Reading a server child process's output: its port, and every line kept for failure messages.</summary>
internal static class ServerOutput
{
    /// <summary>
    /// Reads standard output until <paramref name="listening"/> matches and returns the port in
    /// group <paramref name="portGroup"/>; both streams keep draining into <paramref name="output"/>
    /// afterwards, so the server never blocks on a full pipe.
    /// </summary>
    public static async Task<int> WaitForPortAsync(Process process, ConcurrentQueue<string> output, Regex listening, int portGroup)
    {
        _ = DrainAsync(process.StandardError, output);
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            output.Enqueue(line);
            var match = listening.Match(line);
            if (match.Success)
            {
                _ = DrainAsync(process.StandardOutput, output);
                return int.Parse(match.Groups[portGroup].Value, CultureInfo.InvariantCulture);
            }
        }

        await process.WaitForExitAsync();
        throw new InvalidOperationException($"The server exited ({process.ExitCode}) before it listened:\n" + string.Join('\n', output));
    }

    private static async Task DrainAsync(StreamReader reader, ConcurrentQueue<string> output)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            output.Enqueue(line);
        }
    }
}

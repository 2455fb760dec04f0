using System.Diagnostics;
using System.Globalization;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>
/// Every process the harness starts (servers, wrk). They are killed, with their descendants, when
/// the harness stops for any reason; their pids also go to the pid file perf/run.sh cleans up from
/// if the harness itself is killed.
/// </summary>
internal static class ChildProcesses
{
    private static readonly Lock s_lock = new();
    private static readonly List<Process> s_running = [];
    private static string? s_pidFile;

    public static void UsePidFile(string? path) => s_pidFile = path;

    /// <summary>Records the temporary folder, so perf/run.sh can delete it if the harness is killed.</summary>
    public static void RecordWorkFolder(string path)
    {
        if (s_pidFile is not null)
        {
            lock (s_lock)
            {
                File.AppendAllText(s_pidFile, $"workdir {path}\n");
            }
        }
    }

    public static Process Start(ProcessStartInfo startInfo, string role)
    {
        var process = new Process { StartInfo = startInfo };
        lock (s_lock)
        {
            process.Start();
            s_running.Add(process);
            if (s_pidFile is not null)
            {
                File.AppendAllText(s_pidFile, string.Create(CultureInfo.InvariantCulture, $"{process.Id} {role}\n"));
            }
        }

        return process;
    }

    /// <summary>
    /// Runs <paramref name="tool"/> with one argument (a version query) and returns its exit code
    /// and what it wrote (standard output, then standard error); null when it cannot be started.
    /// </summary>
    public static (int ExitCode, string Output)? Query(string tool, string argument)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(tool, argument) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false });
            if (process is null)
            {
                return null;
            }

            var error = process.StandardError.ReadToEndAsync();
            var text = process.StandardOutput.ReadToEnd() + error.GetAwaiter().GetResult();
            process.WaitForExit();
            return (process.ExitCode, text);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>
    /// Runs a load client to its end: its exit code and what it wrote. A client still running
    /// <paramref name="seconds"/> + 60 s after it started is killed and reported (a server that
    /// stopped answering).
    /// </summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(ProcessStartInfo startInfo, string role, int seconds, CancellationToken cancel)
    {
        var process = Start(startInfo, role);
        try
        {
            var output = process.StandardOutput.ReadToEndAsync(cancel);
            var error = process.StandardError.ReadToEndAsync(cancel);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            timeout.CancelAfter(TimeSpan.FromSeconds(seconds + 60));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
            {
                throw new HarnessException($"{role} did not finish within {seconds + 60} s (a server that stopped answering?)");
            }

            return (process.ExitCode, await output, await error);
        }
        finally
        {
            Stop(process);
            process.Dispose();
        }
    }

    /// <summary>Kills a process and its descendants (nginx's workers) and waits for it.</summary>
    public static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
        }
        finally
        {
            lock (s_lock)
            {
                s_running.Remove(process);
            }
        }
    }

    public static void StopAll()
    {
        Process[] running;
        lock (s_lock)
        {
            running = [.. s_running];
        }

        foreach (var process in running)
        {
            Stop(process);
        }
    }
}

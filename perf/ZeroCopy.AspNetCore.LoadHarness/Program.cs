using ZeroCopy.AspNetCore.LoadHarness;

// The load harness. Run it through perf/run.sh, which installs wrk and nginx, builds the Release
// binaries and passes --perfhost. Exit codes: 0 all good; 1 a server returned errors or wrong bytes
// (or crashed), so the table is not to be trusted; 2 bad usage or missing tools; 130 interrupted.
if (!OperatingSystem.IsLinux())
{
    await Console.Error.WriteLineAsync("The load harness runs on Linux only (it reads /proc and drives wrk and nginx).");
    return 2;
}

if (args.Any(static a => a is "--help" or "-h"))
{
    Console.WriteLine(HarnessOptions.Usage);
    return 0;
}

HarnessOptions options;
try
{
    options = HarnessOptions.Parse(args);
}
catch (Exception ex) when (ex is ArgumentException or FormatException or OverflowException)
{
    await Console.Error.WriteLineAsync(ex.Message);
    await Console.Error.WriteLineAsync(HarnessOptions.Usage);
    return 2;
}

ChildProcesses.UsePidFile(options.PidFile);
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};
AppDomain.CurrentDomain.ProcessExit += (_, _) => ChildProcesses.StopAll();

try
{
    return await new Harness(options).RunAsync(cancel.Token);
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    await Console.Error.WriteLineAsync("interrupted");
    return 130;
}
catch (Exception ex) when (ex is HarnessException or ArgumentException)
{
    await Console.Error.WriteLineAsync("error: " + ex.Message);
    return 2;
}
finally
{
    ChildProcesses.StopAll();
}

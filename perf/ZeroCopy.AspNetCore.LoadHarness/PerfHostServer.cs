using System.Diagnostics;
using System.Globalization;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>A ZeroCopy.AspNetCore.PerfHost process: stock or ours.</summary>
internal sealed class PerfHostServer : RunningServer
{
    private const string ReadyPrefix = "PERFHOST READY ";

    private PerfHostServer(ServerSpec spec, Process process, int port, int? tlsPort, string logPath, IReadOnlyDictionary<string, string> ready)
        : base(spec, process, port, logPath, tlsPort) => Ready = ready;

    /// <summary>The key=value pairs of the ready line (impl, mode, configuration, gc, runtime...).</summary>
    public IReadOnlyDictionary<string, string> Ready { get; }

    public override IReadOnlyList<int> Pids() => [Process.Id];

    /// <param name="tls">The certificate of the HTTPS port; only servers that run the TLS workloads get one.</param>
    public static async Task<PerfHostServer> StartAsync(ServerSpec spec, string perfHost, string root, string logPath, string? fault, IReadOnlyList<string> extra, TlsFiles? tls, CancellationToken cancel)
    {
        var startInfo = new ProcessStartInfo(perfHost)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(perfHost)!,
        };
        foreach (var argument in spec.HostArguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        startInfo.ArgumentList.Add("--root");
        startInfo.ArgumentList.Add(root);
        startInfo.ArgumentList.Add("--port");
        startInfo.ArgumentList.Add("0");
        if (tls is not null && spec.RunsTls)
        {
            foreach (var argument in new[] { "--https-port", "0", "--tls-cert", tls.Certificate, "--tls-key", tls.Key })
            {
                startInfo.ArgumentList.Add(argument);
            }
        }
        foreach (var argument in spec.IsOurs ? extra : [])
        {
            startInfo.ArgumentList.Add(argument);
        }

        if (fault is not null)
        {
            startInfo.ArgumentList.Add("--fault");
            startInfo.ArgumentList.Add(fault);
        }

        // The host listens where --port says; inherited URL settings would only add a warning.
        foreach (var variable in new[] { "ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS", "ASPNETCORE_HTTPS_PORTS", "DOTNET_URLS" })
        {
            startInfo.Environment.Remove(variable);
        }

        var ready = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new StreamWriter(logPath) { AutoFlush = true };
        var logLock = new Lock();
        void Append(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (logLock)
            {
                log.WriteLine(line);
            }

            if (line.StartsWith(ReadyPrefix, StringComparison.Ordinal))
            {
                ready.TrySetResult(line);
            }
        }

        var process = ChildProcesses.Start(startInfo, "perfhost");
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"exited with code {process.ExitCode} before it was ready"));
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        string line;
        try
        {
            line = await ready.Task.WaitAsync(TimeSpan.FromSeconds(60), cancel);
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
        {
            ChildProcesses.Stop(process);
            throw new HarnessException($"{spec.Title} did not start: {ex.Message}. Log: {logPath}\n{Tail(logPath)}");
        }

        var fields = line[ReadyPrefix.Length..]
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(static pair => pair.Split('=', 2))
            .Where(static pair => pair.Length == 2)
            .ToDictionary(static pair => pair[0], static pair => pair[1], StringComparer.Ordinal);
        var uri = new Uri(fields["url"]);
        int? tlsPort = fields.TryGetValue("https", out var https) ? new Uri(https).Port : null;
        var server = new PerfHostServer(spec, process, uri.Port, tlsPort, logPath, fields);
        if (!string.Equals(fields.GetValueOrDefault("configuration"), "Release", StringComparison.Ordinal))
        {
            server.Dispose();
            throw new HarnessException($"{perfHost} is a {fields.GetValueOrDefault("configuration")} build: the harness measures Release builds only.");
        }

        return server;
    }

    public override (List<string> Errors, List<string> Warnings) ReadLog()
    {
        // Simple console formatter: "warn: Category[id]" then the message on indented lines.
        var errors = new List<string>();
        var warnings = new List<string>();
        List<string>? current = null;
        string? heading = null;
        foreach (var line in ReadLines(LogPath))
        {
            if (line.StartsWith("warn: ", StringComparison.Ordinal))
            {
                (current, heading) = (warnings, line[6..]);
            }
            else if (line.StartsWith("fail: ", StringComparison.Ordinal) || line.StartsWith("crit: ", StringComparison.Ordinal))
            {
                (current, heading) = (errors, line[6..]);
            }
            else if (current is not null && heading is not null && line.StartsWith("      ", StringComparison.Ordinal))
            {
                current.Add($"{heading}: {line.Trim()}");
                (current, heading) = (null, null);
            }
            else if (line.StartsWith("Unhandled exception", StringComparison.Ordinal))
            {
                errors.Add(line);
            }
        }

        return (errors, warnings);
    }

    internal static IEnumerable<string> ReadLines(string path)
    {
        // The server may still hold the file open for writing.
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            yield return line;
        }
    }

    internal static string Tail(string path, int lines = 20)
    {
        try
        {
            var all = ReadLines(path).ToList();
            return string.Join('\n', all.Skip(Math.Max(0, all.Count - lines)));
        }
        catch (IOException ex)
        {
            return string.Create(CultureInfo.InvariantCulture, $"(log unreadable: {ex.Message})");
        }
    }
}

using System.Diagnostics;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>A started server: where it listens, which processes to account, its log.</summary>
internal abstract class RunningServer : IDisposable
{
    protected RunningServer(ServerSpec spec, Process process, int port, string logPath)
    {
        Spec = spec;
        Process = process;
        Port = port;
        LogPath = logPath;
    }

    public ServerSpec Spec { get; }

    public int Port { get; }

    public string LogPath { get; }

    protected Process Process { get; }

    public string BaseUrl => $"http://127.0.0.1:{Port}";

    /// <summary>The processes whose CPU and memory are the server's (nginx: master and workers).</summary>
    public abstract IReadOnlyList<int> Pids();

    /// <summary>Error lines from the server's log (fail the run) and warnings (reported).</summary>
    public abstract (List<string> Errors, List<string> Warnings) ReadLog();

    public bool HasExited => Process.HasExited;

    public void Dispose()
    {
        ChildProcesses.Stop(Process);
        Process.Dispose();
        GC.SuppressFinalize(this);
    }
}

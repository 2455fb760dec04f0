using System.Diagnostics;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>A started server: where it listens, which processes to account, its log.</summary>
internal abstract class RunningServer : IDisposable
{
    protected RunningServer(ServerSpec spec, Process process, int port, string logPath, int? tlsPort = null)
    {
        Spec = spec;
        Process = process;
        Port = port;
        LogPath = logPath;
        TlsPort = tlsPort;
    }

    public ServerSpec Spec { get; }

    public int Port { get; }

    public string LogPath { get; }

    protected Process Process { get; }

    public string BaseUrl => $"http://127.0.0.1:{Port}";

    /// <summary>The HTTPS port (HTTP/1.1 and HTTP/2 by ALPN, the run's certificate), or null when the server has none.</summary>
    public int? TlsPort { get; }

    /// <summary>What the verifying client negotiated on the HTTPS port ("Tls13 TLS_AES_256_GCM_SHA384"), once verified.</summary>
    public string? TlsNegotiated { get; set; }

    public string TlsBaseUrl => TlsPort is { } port
        ? $"https://127.0.0.1:{port}"
        : throw new HarnessException($"{Spec.Title} has no HTTPS port (no certificate: perf/run.sh makes one with openssl)");

    /// <summary>Where <paramref name="workload"/>'s client connects: the plain or the HTTPS port.</summary>
    public string BaseUrlFor(Workload workload) => workload.Transport == Transport.Plain ? BaseUrl : TlsBaseUrl;

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

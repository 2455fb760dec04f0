using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>
/// nginx as the reference: 2 workers, sendfile on, tcp_nopush on, open_file_cache, no access log,
/// in the foreground (daemon off) under a temporary prefix, on a free loopback port; with a
/// certificate, also an HTTPS port (HTTP/1.1 and HTTP/2 by ALPN) on another.
/// </summary>
internal sealed class NginxServer : RunningServer
{
    private const int Workers = 2;
    private readonly string _errorLog;

    private NginxServer(ServerSpec spec, Process process, int port, int? tlsPort, string logPath, string errorLog)
        : base(spec, process, port, logPath, tlsPort) => _errorLog = errorLog;

    /// <summary>The master and its workers.</summary>
    public override IReadOnlyList<int> Pids() => [Process.Id, .. ProcStats.Children(Process.Id)];

    /// <summary>
    /// The TLS lines of the server block. nginx 1.22 (Debian 12) takes <c>http2</c> on the listen
    /// line and allows TLSv1 to TLSv1.2 by default (TLSv1.3 joined its default list in 1.23.4): the
    /// protocols are set so that it negotiates TLS 1.3, as Kestrel and the clients do.
    /// </summary>
    private static string TlsConfig(int? tlsPort, TlsFiles? tls) => tlsPort is not { } port || tls is null ? string.Empty : string.Create(CultureInfo.InvariantCulture, $$"""
                listen 127.0.0.1:{{port}} ssl http2;
                ssl_certificate {{tls.Certificate}};
                ssl_certificate_key {{tls.Key}};
                ssl_protocols TLSv1.2 TLSv1.3;
        """);

    /// <summary>The nginx configuration used, for the README.</summary>
    public static string Config(string prefix, string root, int port, int? tlsPort = null, TlsFiles? tls = null) => string.Create(CultureInfo.InvariantCulture, $$"""
        worker_processes {{Workers}};
        daemon off;
        pid {{prefix}}/nginx.pid;
        error_log {{prefix}}/error.log warn;
        events {
            worker_connections 4096;
        }
        http {
            access_log off;
            sendfile on;
            tcp_nopush on;
            open_file_cache max=20000 inactive=20s;
            open_file_cache_valid 1s;
            # nginx closes a keep-alive connection after 1000 requests by default; Kestrel never does.
            keepalive_requests 100000000;
            types {
                application/octet-stream bin;
            }
            default_type application/octet-stream;
            server {
                listen 127.0.0.1:{{port}};
        {{TlsConfig(tlsPort, tls)}}
                root {{root}};
                # The warm-up's second mount of the same root (the .NET hosts have one too).
                location {{Harness.WarmRoot}}/ {
                    alias {{root}}/;
                }
                location = /plaintext {
                    default_type text/plain;
                    return 200 "Hello, World!";
                }
            }
        }

        """);

    public static async Task<NginxServer> StartAsync(ServerSpec spec, string nginx, string root, string prefix, TlsFiles? tls, CancellationToken cancel)
    {
        Directory.CreateDirectory(prefix);
        string? lastProblem = null;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            // A port that was free a moment ago; if nginx loses the race it exits and we try another.
            var port = FreePort();
            int? tlsPort = tls is null ? null : FreePort();
            var configPath = Path.Combine(prefix, "nginx.conf");
            var errorLog = Path.Combine(prefix, "error.log");
            File.Delete(errorLog);
            await File.WriteAllTextAsync(configPath, Config(prefix, root, port, tlsPort, tls), cancel);

            var startInfo = new ProcessStartInfo(nginx)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var argument in new[] { "-p", prefix + "/", "-c", configPath, "-e", errorLog })
            {
                startInfo.ArgumentList.Add(argument);
            }

            var process = ChildProcesses.Start(startInfo, "nginx");
            var output = process.StandardOutput.ReadToEndAsync(cancel);
            var error = process.StandardError.ReadToEndAsync(cancel);
            var deadline = DateTime.UtcNow.AddSeconds(15);
            while (DateTime.UtcNow < deadline && !process.HasExited)
            {
                if (ProcStats.Children(process.Id).Count >= Workers && await CanConnectAsync(port, cancel)
                    && (tlsPort is not { } secure || await CanConnectAsync(secure, cancel)))
                {
                    // The pipes keep draining (output, error) until nginx exits; with -e and daemon off it writes to them only when it cannot start.
                    return new NginxServer(spec, process, port, tlsPort, errorLog, errorLog);
                }

                await Task.Delay(50, cancel);
            }

            ChildProcesses.Stop(process);
            lastProblem = (await error).Trim() + " " + (File.Exists(errorLog) ? await File.ReadAllTextAsync(errorLog, cancel) : string.Empty);
            if (!lastProblem.Contains("Address already in use", StringComparison.Ordinal))
            {
                break;
            }
        }

        throw new HarnessException($"nginx did not start: {lastProblem}");
    }

    public override (List<string> Errors, List<string> Warnings) ReadLog()
    {
        var errors = new List<string>();
        var warnings = new List<string>();
        if (!File.Exists(_errorLog))
        {
            return (errors, warnings);
        }

        foreach (var line in PerfHostServer.ReadLines(_errorLog))
        {
            if (line.Contains("[warn]", StringComparison.Ordinal) || line.Contains("[notice]", StringComparison.Ordinal))
            {
                warnings.Add(line);
            }
            else if (line.Contains("[error]", StringComparison.Ordinal) || line.Contains("[crit]", StringComparison.Ordinal)
                || line.Contains("[alert]", StringComparison.Ordinal) || line.Contains("[emerg]", StringComparison.Ordinal))
            {
                errors.Add(line);
            }
        }

        return (errors, warnings);
    }

    /// <summary>nginx's version line ("nginx/1.22.1"), or null when it cannot run.</summary>
    public static string? Version(string nginx)
    {
        // nginx -v writes "nginx version: nginx/1.22.1" to standard error.
        if (ChildProcesses.Query(nginx, "-v") is not (0, var text))
        {
            return null;
        }

        var at = text.IndexOf("nginx/", StringComparison.Ordinal);
        return at >= 0 ? text[at..].Trim() : null;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static async Task<bool> CanConnectAsync(int port, CancellationToken cancel)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancel);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

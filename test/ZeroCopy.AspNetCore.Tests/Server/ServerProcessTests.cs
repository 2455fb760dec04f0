using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace ZeroCopy.AspNetCore.Tests.Server;

/// <summary>The README's first command: the server process answers on the demo root.</summary>
public sealed partial class ServerProcessTests
{
    [GeneratedRegex(@"listening on (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningLine();

    [Fact]
    public async Task The_server_serves_the_bundled_demo_root()
    {
        var ct = TestContext.Current.CancellationToken;
        var serverDll = Path.Combine(Repository.Root, "src", "ZeroCopy.AspNetCore.Server", "bin", Repository.Configuration, "net10.0", "ZeroCopy.AspNetCore.Server.dll");
        Assert.True(File.Exists(serverDll), $"{serverDll} was not built");

        using var process = Process.Start(new ProcessStartInfo("dotnet", [serverDll, "--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Debug"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        })!;
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        try
        {
            var address = await WaitForAddressAsync(process, output).WaitAsync(TimeSpan.FromSeconds(60), ct);
            using var client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(30) };

            using var index = await client.GetAsync("/index.html", ct);
            Assert.Equal(HttpStatusCode.OK, index.StatusCode);
            Assert.Equal("text/html", index.Content.Headers.ContentType?.MediaType);
            Assert.Contains("ZeroCopy.AspNetCore", await index.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);

            using var css = await client.GetAsync("/css/site.css", ct);
            Assert.Equal("text/css", css.Content.Headers.ContentType?.MediaType);
            using var image = await client.GetAsync("/img/logo.png", ct);
            Assert.Equal("image/png", image.Content.Headers.ContentType?.MediaType);

            var download = await client.GetByteArrayAsync("/downloads/sample-4mib.bin", ct);
            var expected = new byte[4 * 1024 * 1024];
            new Random(20261124).NextBytes(expected);
            Assert.Equal(SHA256.HashData(expected), SHA256.HashData(download));

            // It says which strategies are active (the "Serving" event, under our own category,
            // which the server's Microsoft.AspNetCore=Warning level does not hide).
            Assert.True(
                await Poll.UntilAsync(() => output.Any(l => l.Contains("body strategies", StringComparison.Ordinal)), TimeSpan.FromSeconds(10)),
                "no 'Serving ... body strategies' line in the server output");
        }
        catch (Exception ex)
        {
            throw new Xunit.Sdk.XunitException("Server output:\n" + string.Join('\n', output) + "\n" + ex);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(30), ct);
        }
    }

    [Fact]
    public Task Invalid_settings_end_the_server_with_one_line_per_problem_and_exit_code_78()
        => AssertRejectedAsync(
            "--ZeroCopyStaticFiles:Mode=Teleport",
            ("ZeroCopyStaticFiles__Cache__MaxFileBytes", "-1"),
            [
                "ZeroCopyStaticFiles:Mode: 'Teleport' is not one of Auto, SendFile, Splice, Stream.",
                "ZeroCopyStaticFiles:Cache:MaxFileBytes: -1 must be 0 or more.",
            ]);

    /// <summary>The transport's keys are checked when the application is built, before the rest of the section: the same report.</summary>
    [Fact]
    public Task Invalid_transport_settings_end_the_server_the_same_way()
        => AssertRejectedAsync(
            "--ZeroCopyStaticFiles:Transport:EventLoopCount=0",
            ("ZeroCopyStaticFiles__Transport__Engine", "Turbo"),
            [
                "ZeroCopyStaticFiles:Transport:Engine: 'Turbo' is not one of Sockets, EventLoop.",
                "ZeroCopyStaticFiles:Transport:EventLoopCount: 0 must be 1 or more.",
            ]);

    /// <summary>Starts the server with one invalid setting on the command line and one in the environment; it must exit 78 with exactly these problems.</summary>
    private static async Task AssertRejectedAsync(string argument, (string Name, string Value) variable, string[] problems)
    {
        var ct = TestContext.Current.CancellationToken;
        var start = new ProcessStartInfo("dotnet", [ServerDll(), "--urls", "http://127.0.0.1:0", argument])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        start.Environment[variable.Name] = variable.Value;
        using var process = Process.Start(start)!;
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(60), ct);
            var (output, errors) = (await stdout, await stderr);

            Assert.True(process.ExitCode == 78, $"exit code {process.ExitCode}\nstdout:\n{output}\nstderr:\n{errors}");
            var lines = errors.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Assert.Equal(
                [
                    $"ZeroCopy.AspNetCore.Server: not started: {problems.Length} invalid settings (appsettings.json, environment variables such as ZeroCopyStaticFiles__Mode, or the command line):",
                    .. problems,
                ],
                lines);
            Assert.DoesNotContain("Unhandled exception", output + errors, StringComparison.Ordinal);
            Assert.DoesNotContain("listening on", output, StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task A_root_switch_without_a_directory_ends_the_server_with_usage_and_exit_code_64()
    {
        var ct = TestContext.Current.CancellationToken;
        using var process = Process.Start(new ProcessStartInfo("dotnet", [ServerDll(), "--root"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        })!;
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(60), ct);
            var (output, errors) = (await stdout, await stderr);

            Assert.True(process.ExitCode == 64, $"exit code {process.ExitCode}\nstdout:\n{output}\nstderr:\n{errors}");
            Assert.StartsWith("ZeroCopy.AspNetCore.Server: --root needs a directory.", errors, StringComparison.Ordinal);
            Assert.DoesNotContain("Unhandled exception", output + errors, StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    private static string ServerDll()
    {
        var serverDll = Path.Combine(Repository.Root, "src", "ZeroCopy.AspNetCore.Server", "bin", Repository.Configuration, "net10.0", "ZeroCopy.AspNetCore.Server.dll");
        Assert.True(File.Exists(serverDll), $"{serverDll} was not built");
        return serverDll;
    }

    private static async Task<string> WaitForAddressAsync(Process process, System.Collections.Concurrent.ConcurrentQueue<string> output)
    {
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            output.Enqueue(line);
            var match = ListeningLine().Match(line);
            if (match.Success)
            {
                // Keep draining so the server never blocks on a full stdout pipe.
                _ = DrainAsync(process.StandardOutput, output);
                _ = DrainAsync(process.StandardError, output);
                return match.Groups[1].Value;
            }
        }

        throw new InvalidOperationException("The server exited before it listened: " + await process.StandardError.ReadToEndAsync());
    }

    private static async Task DrainAsync(StreamReader reader, System.Collections.Concurrent.ConcurrentQueue<string> output)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            output.Enqueue(line);
        }
    }
}

using System.Diagnostics.Metrics;

namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>
/// Shared by the file-body conformance tests: a 24 MiB file and hosts that serve it with
/// <c>Results.File</c>: on Kestrel's socket transport by copying, on the zero-copy transport with
/// sendfile/splice (<c>AddZeroCopyStaticFiles</c> + <c>UseZeroCopySendFile</c>).
/// </summary>
public sealed class FileBodyFixture : IDisposable
{
    public const int FileSize = 24 * 1024 * 1024;
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);
    private readonly TempDirectory _root = new("zc-conformance-file");

    public FileBodyFixture()
    {
        Path = _root.Combine("big.bin");
        using var stream = File.Create(Path);
        stream.Write(ConformanceData.Large.AsSpan(0, FileSize));
    }

    public string Path { get; }

    public void Dispose() => _root.Dispose();

    /// <summary>A host serving the file, what the endpoint saw, and its connection's ConnectionClosed.</summary>
    public sealed class FileHost(ConformanceHost host, MetricsCollector? metrics, ZeroCopyMode mode, TaskCompletionSource<string> outcome, TaskCompletionSource connectionClosed) : IAsyncDisposable
    {
        /// <summary>Zero-copy runs: one more complete download on a new connection was counted as sent by the kernel path.</summary>
        public Task AssertKernelPathAsync() => FileBodyFixture.AssertKernelPathAsync(host, metrics, mode);

        public void Deconstruct(out ConformanceHost host1, out TaskCompletionSource<string> outcome1, out TaskCompletionSource connectionClosed1)
            => (host1, outcome1, connectionClosed1) = (host, outcome, connectionClosed);

        public async ValueTask DisposeAsync()
        {
            metrics?.Dispose();
            await host.DisposeAsync();
        }
    }

    /// <summary>
    /// Starts a host serving the file; unless <paramref name="proveKernelPathFirst"/> is false, a
    /// zero-copy run first proves the kernel path carries it (<see cref="AssertKernelPathAsync"/>).
    /// </summary>
    public async Task<FileHost> StartAsync(TransportKind kind, ZeroCopyMode mode, Action<HostSettings>? configure = null, bool proveKernelPathFirst = true)
    {
        var path = Path;
        var outcome = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var connectionClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var host = await ConformanceHost.StartAsync(
            kind,
            app =>
            {
                if (kind.IsZeroCopy())
                {
                    app.UseZeroCopySendFile();
                }

                app.MapGet("/ping", () => "pong");
                app.MapGet("/file", async context =>
                {
                    // The warm-up download (see AssertKernelPathAsync) does not report.
                    var report = context.Request.Query["warmup"].Count == 0;
                    if (report)
                    {
                        context.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeFeature>()!.ConnectionClosed.Register(() => connectionClosed.TrySetResult());
                    }

                    try
                    {
                        await Results.File(path, "application/octet-stream").ExecuteAsync(context);
                        if (report)
                        {
                            outcome.TrySetResult("completed; RequestAborted=" + context.RequestAborted.IsCancellationRequested);
                        }
                    }
                    catch (Exception ex) when (report)
                    {
                        var aborted = await Poll.UntilAsync(() => context.RequestAborted.IsCancellationRequested, Wait);
                        outcome.TrySetResult($"threw {(ex is OperationCanceledException ? "OperationCanceledException" : ex.GetType().FullName)}; RequestAborted={aborted}");
                    }
                });
            },
            s =>
            {
                configure?.Invoke(s);
                var inner = s.Builder;
                s.Builder = builder =>
                {
                    inner?.Invoke(builder);
                    if (kind.IsZeroCopy())
                    {
                        builder.Services.AddZeroCopyStaticFiles(o =>
                        {
                            o.Mode = mode;
                            o.MinZeroCopyBytes = 0;
                        });
                    }
                };
            });
        var metrics = kind.IsZeroCopy() ? new MetricsCollector(host.App.Services.GetRequiredService<IMeterFactory>()) : null;
        var started = new FileHost(host, metrics, mode, outcome, connectionClosed);
        try
        {
            if (proveKernelPathFirst)
            {
                await started.AssertKernelPathAsync();
            }

            return started;
        }
        catch
        {
            await started.DisposeAsync();
            throw;
        }
    }

    /// <summary>A raw client that asked for the file, read its first MiB and stopped reading (SO_RCVBUF 64 KiB).</summary>
    public static async Task<WireClient> StartStalledDownloadAsync(ConformanceHost host)
    {
        var client = await host.ConnectAsync();
        try
        {
            client.Socket.ReceiveBufferSize = 64 * 1024;
            await client.SendAsync(Wire.Request("GET", "/file"));
            await client.ReadExactAsync(1024 * 1024, Wait);
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Zero-copy runs: one complete download on a new connection must be counted as sent by the
    /// kernel path (aborted responses are not counted, so a scenario's own one cannot prove it).
    /// </summary>
    private static async Task AssertKernelPathAsync(ConformanceHost host, MetricsCollector? metrics, ZeroCopyMode mode)
    {
        if (metrics is null)
        {
            return;
        }

        var strategy = mode == ZeroCopyMode.Splice ? "splice" : "sendfile";
        var before = metrics.Responses(strategy);
        await using var client = await host.ConnectAsync();
        await client.SendAsync(Wire.Request("GET", "/file?warmup=1"));
        var response = await client.ReadResponseAsync();
        Assert.Equal(FileSize, response.Body.Length);
        Assert.True(await Poll.UntilAsync(() => metrics.Responses(strategy) > before, Wait), $"The file was not sent with {strategy}: {metrics.Dump()}");
    }
}

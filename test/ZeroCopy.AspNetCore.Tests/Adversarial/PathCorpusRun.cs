using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.Versioning;
using System.Text;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.FileProviders;

namespace ZeroCopy.AspNetCore.Tests.Adversarial;

/// <summary>One answer of one server to one corpus request.</summary>
public sealed record Observation(int Status, bool Complete, long BodyLength, long CanaryBytes, TimeSpan Elapsed, string? Error, string BodyText)
{
    public bool Canary => CanaryBytes > 0;

    public string Describe() => Status == 0 ? "no response (" + Error + ")"
        : Status + (Error?.StartsWith("exception", StringComparison.Ordinal) == true ? " (exception)" : Complete ? string.Empty : " (body cut short)");
}

/// <summary>One corpus request sent to ours and (unless it resolves to a FIFO) to stock.</summary>
public sealed record PathExchange(
    string Transport,
    string Method,
    string Target,
    string Family,
    string? RequestPath,
    PathClass Class,
    Observation Ours,
    Observation? Stock);

/// <summary>
/// Runs the path corpus once per test class: over Kestrel (ours on the zero-copy transport, stock on
/// Kestrel's socket transport; raw sockets, the exact target bytes) and over TestServer (the target
/// as <c>Request.Path</c>, both undecoded and naively percent-decoded, so the middleware sees paths
/// Kestrel would have normalised or rejected). Named entries are also requested with HEAD and with
/// <c>Accept-Encoding: br, gzip</c> ("GET+AE", which makes ours look for precompressed siblings, some
/// of them hostile); over Kestrel a third server, ours with default documents and an SPA fallback,
/// answers the same requests (checked for the same invariants; stock has no such features). Requests that resolve to a FIFO are never sent to
/// stock (it blocks in open(2) forever); they are counted in <see cref="SkippedForStock"/>.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class PathCorpusRun : IAsyncLifetime
{
    private static readonly TimeSpan s_requestTimeout = TimeSpan.FromSeconds(10);

    public AdversarialTree Tree { get; private set; } = null!;

    public IReadOnlyList<PathCase> Corpus { get; private set; } = [];

    public List<PathExchange> Exchanges { get; } = [];

    /// <summary>Error-level (or worse) log records of ours' hosts.</summary>
    public List<LogRecord> OursErrorLogs { get; } = [];

    /// <summary>Log records of ours' hosts by event name (refusals, fallbacks).</summary>
    public Dictionary<string, int> OursEvents { get; } = new(StringComparer.Ordinal);

    public int SkippedForStock { get; private set; }

    public TimeSpan Duration { get; private set; }

    public async ValueTask InitializeAsync()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var stopwatch = Stopwatch.StartNew();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(150));
        Tree = new AdversarialTree();
        Corpus = PathCorpus.Build(Tree);
        await RunKestrelAsync(cts.Token);
        await RunTestServerAsync(cts.Token);
        Duration = stopwatch.Elapsed;

        // A development aid: every exchange as a tab-separated line.
        if (Environment.GetEnvironmentVariable("ZC_DUMP_PATH_EXCHANGES") is { Length: > 0 } dump)
        {
            await File.WriteAllLinesAsync(dump, Exchanges.Select(e => string.Join('\t',
                e.Transport, e.Method, e.Family, e.Target, e.RequestPath is null ? "(rejected)" : RawRequest.Describe(Encoding.UTF8.GetBytes(e.RequestPath)),
                e.Class.Cause, e.Ours.Describe(), e.Stock?.Describe() ?? "(not sent)")), cts.Token);
        }
    }

    public ValueTask DisposeAsync()
    {
        Tree?.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>The header of the "GET+AE" requests: precompressed siblings are looked for.</summary>
    public const string AcceptEncoding = "Accept-Encoding: br, gzip";

    private async Task RunKestrelAsync(CancellationToken cancellationToken)
    {
        var requests = new List<RawRequest>();
        var labels = new List<(string Method, string Family)>();
        void Add(PathCase c, string label, string method, string[] headers)
        {
            labels.Add((label, c.Family));
            requests.Add(new RawRequest(requests.Count, method, c.Target, headers));
        }

        foreach (var c in Corpus)
        {
            Add(c, "GET", "GET", []);
            if (c.AlsoHead)
            {
                Add(c, "HEAD", "HEAD", []);
                Add(c, "GET+AE", "GET", [AcceptEncoding]);
            }
        }

        var oursPaths = new ConcurrentDictionary<int, string>();
        RawResult[] ours;
        await using (var host = await StartAsync(HostKind.Kestrel, Server.Ours, oursPaths))
        {
            ours = await RawRunner.RunAsync(host.Port, requests, connections: 4, s_requestTimeout, cancellationToken);
            Collect(host.Logs);
        }

        // Ours with default documents and an SPA fallback on: no stock to compare with, the same invariants.
        RawResult[] features;
        await using (var host = await StartAsync(HostKind.Kestrel, Server.OursWithFeatures, new ConcurrentDictionary<int, string>()))
        {
            features = await RawRunner.RunAsync(host.Port, requests, connections: 4, s_requestTimeout, cancellationToken);
            Collect(host.Logs);
        }

        // Only what cannot resolve to a FIFO goes to stock: the path the application saw with ours
        // (same Kestrel, same decoding) classified independently; a request that never reached the
        // application is rejected by Kestrel for stock too.
        var stockRequests = new List<RawRequest>();
        var classes = new PathClass[requests.Count];
        for (var i = 0; i < requests.Count; i++)
        {
            classes[i] = oursPaths.TryGetValue(i, out var seen)
                ? Tree.Classify(seen)
                : new PathClass(PathCause.RejectedByServer, EntryKind.Missing, null);
            if (classes[i].IsFifo || (!oursPaths.ContainsKey(i) && MightNameFifo(requests[i].Target)))
            {
                SkippedForStock++;
            }
            else
            {
                stockRequests.Add(requests[i]);
            }
        }

        var stockPaths = new ConcurrentDictionary<int, string>();
        RawResult[] stock;
        await using (var host = await StartAsync(HostKind.Kestrel, Server.Stock, stockPaths))
        {
            try
            {
                stock = await RawRunner.RunAsync(host.Port, stockRequests, connections: 4, s_requestTimeout, cancellationToken);
            }
            finally
            {
                // Should a request have reached a FIFO after all, release it so the host can stop.
                Tree.ReleaseFifoReaders();
            }
        }

        var stockById = stock.ToDictionary(r => r.Request.Id);
        for (var i = 0; i < requests.Count; i++)
        {
            var path = oursPaths.TryGetValue(i, out var p) ? p : null;
            if (stockPaths.TryGetValue(i, out var stockPath) && stockPath != path)
            {
                throw new InvalidOperationException($"Kestrel handed the two applications different paths for {requests[i].Printable}: '{path}' and '{stockPath}'.");
            }

            var (method, family) = labels[i];
            Exchanges.Add(new PathExchange("kestrel", method, requests[i].Printable, family, path, classes[i], Observe(ours[i]), stockById.TryGetValue(i, out var s) ? Observe(s) : null));
            Exchanges.Add(new PathExchange("kestrel+features", method, requests[i].Printable, family, path, classes[i], Observe(features[i]), null));
        }
    }

    private async Task RunTestServerAsync(CancellationToken cancellationToken)
    {
        // Targets that can be a Request.Path: as sent (undecoded) and naively percent-decoded.
        var items = new List<(string Method, string Path, string Family)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var c in Corpus)
        {
            var text = TryUtf8(c.Target) ?? Encoding.Latin1.GetString(c.Target);
            if (!text.StartsWith('/'))
            {
                continue;
            }

            foreach (var path in new[] { text, Uri.UnescapeDataString(text) })
            {
                if (seen.Add(path))
                {
                    items.Add(("GET", path, c.Family));
                    if (c.AlsoHead)
                    {
                        items.Add(("HEAD", path, c.Family));
                        items.Add(("GET+AE", path, c.Family));
                    }
                }
            }
        }

        var classes = items.Select(i => Tree.Classify(i.Path)).ToArray();
        Observation?[] ours;
        await using (var host = await StartAsync(HostKind.TestServer, Server.Ours, new ConcurrentDictionary<int, string>()))
        {
            ours = await SendAllAsync(host, items, _ => true, cancellationToken);
            Collect(host.Logs);
        }

        Observation?[] stock;
        await using (var host = await StartAsync(HostKind.TestServer, Server.Stock, new ConcurrentDictionary<int, string>()))
        {
            try
            {
                stock = await SendAllAsync(host, items, i => !classes[i].IsFifo, cancellationToken);
            }
            finally
            {
                Tree.ReleaseFifoReaders();
            }
        }

        for (var i = 0; i < items.Count; i++)
        {
            if (classes[i].IsFifo)
            {
                SkippedForStock++;
            }

            Exchanges.Add(new PathExchange("testserver", items[i].Method, RawRequest.Describe(Encoding.UTF8.GetBytes(items[i].Path)), items[i].Family, items[i].Path, classes[i], ours[i]!, stock[i]));
        }
    }

    private async Task<Observation?[]> SendAllAsync(TestHost host, List<(string Method, string Path, string Family)> items, Func<int, bool> include, CancellationToken cancellationToken)
    {
        var server = host.App.GetTestServer();
        var results = new Observation?[items.Count];
        var next = -1;
        var workers = Enumerable.Range(0, 4).Select(async _ =>
        {
            while (true)
            {
                var i = Interlocked.Increment(ref next);
                if (i >= items.Count)
                {
                    return;
                }

                if (!include(i))
                {
                    continue;
                }

                var (method, path, _) = items[i];
                var stopwatch = Stopwatch.StartNew();
                try
                {
                    var context = await server.SendAsync(
                        c =>
                        {
                            c.Request.Method = method == "GET+AE" ? "GET" : method;
                            c.Request.Path = new PathString(path);
                            if (method == "GET+AE")
                            {
                                c.Request.Headers.AcceptEncoding = "br, gzip";
                            }
                        },
                        cancellationToken).WaitAsync(s_requestTimeout, cancellationToken);
                    using var body = new MemoryStream();
                    await context.Response.Body.CopyToAsync(body, cancellationToken);
                    results[i] = Observe(context.Response.StatusCode, true, body.ToArray(), stopwatch.Elapsed, null);
                }
                catch (TimeoutException)
                {
                    results[i] = Observe(0, false, [], stopwatch.Elapsed, "timeout");
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // TestServer rethrows what the application threw: for a client that is a 500.
                    results[i] = Observe(500, true, [], stopwatch.Elapsed, "exception: " + ex.GetType().Name + ": " + ex.Message);
                }
            }
        });
        await Task.WhenAll(workers);
        return results;
    }

    private enum Server
    {
        Ours,
        OursWithFeatures,
        Stock,
    }

    private Task<TestHost> StartAsync(HostKind kind, Server server, ConcurrentDictionary<int, string> paths)
        => TestHost.StartAsync(
            kind,
            Tree.ContentRoot,
            builder =>
            {
                if (server == Server.Ours)
                {
                    builder.Services.AddZeroCopyStaticFiles();
                }
                else if (server == Server.OursWithFeatures)
                {
                    builder.Services.AddZeroCopyStaticFiles(o =>
                    {
                        o.DefaultDocuments.Enabled = true;
                        o.FallbackFile = "index.html";
                    });
                }
            },
            app =>
            {
                app.Use((context, next) =>
                {
                    if (int.TryParse(context.Request.Headers[RawRequest.IdHeader], out var id))
                    {
                        paths[id] = context.Request.Path.Value ?? string.Empty;
                    }

                    return next(context);
                });
                // ServeUnknownFileTypes so that every name reaches the file system, not only known extensions.
                var options = new StaticFileOptions { FileProvider = new PhysicalFileProvider(Tree.Root), ServeUnknownFileTypes = true };
                if (server == Server.Stock)
                {
                    app.UseStaticFiles(options);
                }
                else
                {
                    app.UseZeroCopyStaticFiles(options);
                }
            });

    private void Collect(LogCollector logs)
    {
        foreach (var record in logs.Records)
        {
            if (record.Level >= LogLevel.Error)
            {
                OursErrorLogs.Add(record);
            }

            if (record.EventId.Name is { } name)
            {
                OursEvents[name] = OursEvents.GetValueOrDefault(name) + 1;
            }
        }
    }

    private Observation Observe(RawResult r) => Observe(r.Status, r.BodyComplete, r.Body, r.Elapsed, r.Error);

    private Observation Observe(int status, bool complete, byte[] body, TimeSpan elapsed, string? error)
        => new(status, complete, body.Length, Tree.ContainsCanary(body) ? body.Length : 0, elapsed, error,
            body.Length <= 64 ? Encoding.UTF8.GetString(body) : string.Empty);

    private static string? TryUtf8(byte[] bytes)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    /// <summary>Conservative: any spelling of "fifo" after repeated percent-decoding and NFKC.</summary>
    private static bool MightNameFifo(byte[] target)
    {
        var text = Encoding.Latin1.GetString(target);
        for (var i = 0; i < 4; i++)
        {
            text = Uri.UnescapeDataString(text);
        }

        try
        {
            text = text.Normalize(NormalizationForm.FormKC);
        }
        catch (ArgumentException)
        {
            return true;
        }

        return text.Contains("fifo", StringComparison.OrdinalIgnoreCase);
    }
}

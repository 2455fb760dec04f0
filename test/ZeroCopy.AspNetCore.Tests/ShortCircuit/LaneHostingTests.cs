using System.Diagnostics;
using System.Text;

namespace ZeroCopy.AspNetCore.Tests.ShortCircuit;

/// <summary>
/// Issue 16, the lane inside an application: enabled in code (over a configuration that says off);
/// never used with OnPrepareResponse; RequestPath honoured as the middleware honours it (same bytes
/// as lane-off for paths inside, outside and around it); a file changed or deleted on disk is
/// answered as the middleware answers it once the cache has revalidated it (never stale for longer
/// than the lane-off server); and a graceful stop closes idle lane connections as promptly as
/// Kestrel closes its own.
/// </summary>
public sealed class LaneHostingTests : IDisposable
{
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(10);

    private readonly LaneSite _site = new();

    public void Dispose() => _site.Dispose();

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task The_lane_is_enabled_in_code_and_never_used_with_OnPrepareResponse(ZeroCopyTransportEngine engine)
    {
        Engines.Require(engine);

        // Code wins over the configuration key, which says off.
        await using (var code = await LaneServer.StartAsync(
            new LaneServerOptions { Engine = engine, ServedRoot = _site.Root.Path, ContentRoot = _site.Content.Path, Code = o => o.ShortCircuit.Enabled = true },
            lane: false))
        {
            await WarmAsync(code, "/small.txt");
            var before = code.LaneAnswers;
            await GetAsync(code, Wire.Get("/small.txt"));
            Assert.Equal(1, code.LaneAnswers - before);
        }

        // OnPrepareResponse: the lane is not eligible; the answers are the lane-off server's.
        await using var prepared = await LanePair.StartAsync(new LaneServerOptions
        {
            Engine = engine,
            ServedRoot = _site.Root.Path,
            ContentRoot = _site.Content.Path,
            StaticFiles = provider => new StaticFileOptions { FileProvider = provider, OnPrepareResponse = context => context.Context.Response.Headers["X-Prepared"] = "1" },
        });
        await prepared.WarmAsync([("/small.txt", []), ("/page.html", [])]);
        var probes = new[] { "/small.txt", "/page.html", "/small.txt", "/page.html" }.Select(t => LaneProbe.Of("GET " + t, Wire.Get(t))).ToList();
        var (on, _, differences) = await LaneExchange.CompareAsync(prepared, probes);
        Assert.True(differences.Count == 0, LaneExchange.Report("answers that differ with OnPrepareResponse set", differences));
        Assert.Equal(0, prepared.On.LaneAnswers);
        Assert.All(on, o => Assert.Contains("X-Prepared: 1", o.Masked, StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task RequestPath_is_honoured_as_the_middleware_honours_it(ZeroCopyTransportEngine engine)
    {
        Engines.Require(engine);
        await using var pair = await LanePair.StartAsync(new LaneServerOptions
        {
            Engine = engine,
            ServedRoot = _site.Root.Path,
            ContentRoot = _site.Content.Path,
            StaticFiles = provider => new StaticFileOptions { FileProvider = provider, RequestPath = "/static" },
        });
        await pair.WarmAsync([("/static/small.txt", []), ("/static/page.html", [])]);
        string[] targets =
        [
            "/static/small.txt", "/static/page.html", "/STATIC/small.txt", "/Static/page.html", "/small.txt", "/staticx/small.txt",
            "/static", "/static/", "/static//small.txt", "/static/./small.txt", "/static/../static/small.txt", "/static/small.txt/",
            "/static/small.txt?v=1", "/static/secret.txt", "/static/small.txt",
        ];
        var probes = targets.Select(t => LaneProbe.Of("GET " + t, Wire.Get(t), LaneProbe.Doubtful(Wire.Get(t)))).ToList();
        var (on, _, differences) = await LaneExchange.CompareAsync(pair, probes);
        Assert.True(differences.Count == 0, LaneExchange.Report("RequestPath answers that differ with the lane on", differences));
        Assert.True(on[0].LaneDelta == 1 && on[1].LaneDelta == 1 && on[^1].LaneDelta == 1, "The lane did not answer /static/small.txt and /static/page.html: " + string.Join(", ", on.Select(o => $"{o.Probe.Label} {o.LaneDelta}")));
        Assert.All(on.Where(o => o.Answer?.Status != 200), o => Assert.Equal(0, o.LaneDelta));
    }

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task A_file_changed_or_deleted_on_disk_is_not_served_stale_by_the_lane(ZeroCopyTransportEngine engine)
    {
        Engines.Require(engine);
        var changed = _site.Root.Write("change.txt", "version one\n");
        var deleted = _site.Root.Write("gone.txt", "about to be deleted\n");
        File.SetLastWriteTimeUtc(changed, LaneSite.LastModifiedUtc);
        await using var pair = await LanePair.StartAsync(new LaneServerOptions { Engine = engine, ServedRoot = _site.Root.Path, ContentRoot = _site.Content.Path });
        await pair.WarmAsync([("/change.txt", []), ("/gone.txt", [])]);
        var before = pair.On.LaneAnswers;
        Assert.Contains("version one", (await GetAsync(pair.On, Wire.Get("/change.txt"))).Masked, StringComparison.Ordinal);
        await GetAsync(pair.On, Wire.Get("/gone.txt"));
        Assert.Equal(2, pair.On.LaneAnswers - before);

        File.WriteAllText(changed, "version two, longer than the first\n");
        File.SetLastWriteTimeUtc(changed, LaneSite.LastModifiedUtc.AddHours(1));
        File.Delete(deleted);

        // Each server is polled until it answers the new state (the cache revalidates after
        // RevalidateAfter, 1 s by default); the lane-on server must get there within the same bound.
        var stopwatch = Stopwatch.StartNew();
        var onChanged = await PollAsync(pair.On, "/change.txt", a => a.Masked.Contains("version two", StringComparison.Ordinal), laneAnswer: true);
        var onDeleted = await PollAsync(pair.On, "/gone.txt", a => a.Status == 404, laneAnswer: false);
        var elapsed = stopwatch.Elapsed;
        var offChanged = await PollAsync(pair.Off, "/change.txt", a => a.Masked.Contains("version two", StringComparison.Ordinal), laneAnswer: false);
        var offDeleted = await PollAsync(pair.Off, "/gone.txt", a => a.Status == 404, laneAnswer: false);

        Assert.True(onChanged is not null, $"The lane-on server still did not answer the new content of change.txt through the lane {s_bound.TotalSeconds} s after the change.");
        Assert.True(onDeleted is not null, $"The lane-on server still answered a deleted file {s_bound.TotalSeconds} s after the deletion.");
        Assert.NotNull(offChanged);
        Assert.NotNull(offDeleted);
        Assert.Equal(offChanged.Masked, onChanged.Masked);
        Assert.Equal(offDeleted.Masked, onDeleted.Masked);
        TestContext.Current.TestOutputHelper?.WriteLine($"{engine}: the lane-on server answered the new state within {elapsed.TotalSeconds:F2} s");
    }

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task A_graceful_stop_closes_idle_lane_connections_promptly(ZeroCopyTransportEngine engine)
    {
        Engines.Require(engine);
        await using var pair = await _site.StartAsync(engine);
        var results = new List<string>();
        foreach (var server in new[] { pair.On, pair.Off })
        {
            await using var idle = await RawHttp.ConnectAsync(server.Port);
            await idle.PrimeAsync();
            var before = server.LaneAnswers;
            await idle.SendAsync(Wire.Get("/small.txt"));
            Assert.True(await idle.ReadResponseAsync(head: false) is { Complete: true, Status: 200 });
            Assert.Equal(server.Lane ? 1 : 0, server.LaneAnswers - before);

            var stopwatch = Stopwatch.StartNew();
            using var cts = new CancellationTokenSource(s_bound);
            await server.Host.StopAsync(cts.Token);
            var stopped = stopwatch.Elapsed;
            var end = await idle.WaitForEndAsync(s_bound);
            results.Add($"lane {(server.Lane ? "on" : "off")}: stopped in {stopped.TotalSeconds:F2} s, client saw {end}");
            Assert.True(end != CloseKind.StillOpen, $"lane {(server.Lane ? "on" : "off")}: the idle connection was still open after the server stopped.");
            // The shutdown timeout is 5 s: an idle connection that does not close makes the stop take it all.
            Assert.True(stopped < TimeSpan.FromSeconds(3), $"lane {(server.Lane ? "on" : "off")}: the stop took {stopped.TotalSeconds:F2} s with an idle connection.");
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"{engine}: {string.Join("; ", results)}");
    }

    private static async Task WarmAsync(LaneServer server, string target)
    {
        for (var i = 0; i < 2; i++)
        {
            await GetAsync(server, Wire.Get(target, "Connection: close"));
        }
    }

    private static async Task<RawAnswer> GetAsync(LaneServer server, string request)
    {
        await using var connection = await RawHttp.ConnectAsync(server.Port);
        await connection.PrimeAsync();
        await connection.SendAsync(request);
        var answer = await connection.ReadResponseAsync(head: false);
        Assert.True(answer is { Complete: true }, $"{RawHttp.Printable(Encoding.ASCII.GetBytes(request))}: {answer}");
        return answer;
    }

    /// <summary>Plain GETs every 50 ms until one satisfies <paramref name="done"/> (and came from the lane, when asked), or null after the bound.</summary>
    private static async Task<RawAnswer?> PollAsync(LaneServer server, string target, Func<RawAnswer, bool> done, bool laneAnswer)
    {
        RawAnswer? found = null;
        await Poll.UntilAsync(
            async () =>
            {
                var before = server.LaneAnswers;
                var answer = await GetAsync(server, Wire.Get(target));
                if (done(answer) && (!laneAnswer || server.LaneAnswers - before == 1))
                {
                    found = answer;
                    return true;
                }

                return false;
            },
            s_bound);
        return found;
    }
}

using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Http;

namespace ZeroCopy.AspNetCore.Tests.ShortCircuit.Pipeline;

/// <summary>
/// When the lane may answer at all: only when switched on, only for a middleware without prepare
/// callbacks, and only for files the middleware has itself answered through the pipeline with an
/// empty PathBase (so a Map branch's files are never answered at paths the pipeline would not give them).
/// Each case counts the lane's responses (strategy short-circuit) on real Kestrel with our transport.
/// </summary>
public sealed class LaneEligibilityTests
{
    private const string ShortCircuit = "short-circuit";

    private static async Task<(TestHost Host, MetricsCollector Metrics)> StartAsync(
        TempDirectory root,
        ZeroCopyTransportEngine engine,
        bool enabled,
        Action<WebApplication> pipeline)
    {
        var host = await TestHost.StartAsync(
            HostKind.Kestrel,
            root.Path,
            builder =>
            {
                Engines.Use(builder, engine);
                builder.Services.AddZeroCopyStaticFiles(o =>
                {
                    o.ShortCircuit.Enabled = enabled;
                    o.Cache.MinHits = 1;
                });
            },
            pipeline);
        return (host, new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>()));
    }

    /// <summary>A host over a temp root holding <c>wwwroot/a.bin</c> (4 KiB), its metrics and one keep-alive connection.</summary>
    private sealed class Served : IAsyncDisposable
    {
        private Served(TempDirectory root, byte[] file, TestHost host, MetricsCollector metrics, WireClient connection)
            => (Root, File, Host, Metrics, Connection) = (root, file, host, metrics, connection);

        public TempDirectory Root { get; }

        public byte[] File { get; }

        public TestHost Host { get; }

        public MetricsCollector Metrics { get; }

        public WireClient Connection { get; }

        public static async Task<Served> StartAsync(ZeroCopyTransportEngine engine, bool enabled, Action<WebApplication> pipeline)
        {
            var root = new TempDirectory();
            var file = System.IO.File.ReadAllBytes(root.WriteRandom("wwwroot/a.bin", 4096));
            var (host, metrics) = await LaneEligibilityTests.StartAsync(root, engine, enabled, pipeline);
            var connection = await WireClient.ConnectAsync(host.Port, resetIsEnd: true);
            return new Served(root, file, host, metrics, connection);
        }

        public async ValueTask DisposeAsync()
        {
            await Connection.DisposeAsync();
            Metrics.Dispose();
            await Host.DisposeAsync();
            Root.Dispose();
        }
    }

    private static async Task<byte[]> GetAsync(WireClient connection, string target)
    {
        await connection.SendAsync(Wire.Get(target));
        var response = await connection.ReadResponseAsync();
        Assert.Equal(200, response.Status);
        return response.Body;
    }

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task A_file_served_through_the_pipeline_is_then_answered_by_the_lane(ZeroCopyTransportEngine engine)
    {
        await using var served = await Served.StartAsync(engine, enabled: true, app => app.UseZeroCopyStaticFiles());

        // 1: Kestrel (a connection's first request, and a miss that admits the file); 2: a hit
        // through the middleware, which approves it; 3..10: the lane.
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(served.File, await GetAsync(served.Connection, "/a.bin"));
        }

        Assert.Equal(8, served.Metrics.Responses(ShortCircuit));
        Assert.Equal(8L * 4096, served.Metrics.Bytes(ShortCircuit));
    }

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task A_file_with_a_precompressed_sibling_is_answered_in_each_representation(ZeroCopyTransportEngine engine)
    {
        using var root = new TempDirectory();
        var plain = File.ReadAllBytes(root.WriteRandom("wwwroot/a.js", 3000, seed: 1));
        var gzip = File.ReadAllBytes(root.WriteRandom("wwwroot/a.js.gz", 1000, seed: 2));
        var brotli = File.ReadAllBytes(root.WriteRandom("wwwroot/a.js.br", 900, seed: 3));
        var (host, metrics) = await StartAsync(root, engine, enabled: true, app => app.UseZeroCopyStaticFiles());
        await using var _ = host;
        using var __ = metrics;
        await using var connection = await WireClient.ConnectAsync(host.Port, resetIsEnd: true);
        for (var i = 0; i < 10; i++)
        {
            await connection.SendAsync(Wire.Get("/a.js", "Accept-Encoding: br"));
            Assert.Equal(brotli, (await connection.ReadResponseAsync()).Body);
            await connection.SendAsync(Wire.Get("/a.js", "Accept-Encoding: gzip"));
            var compressed = await connection.ReadResponseAsync();
            Assert.Equal(gzip, compressed.Body);
            Assert.Equal("gzip", compressed.Header("Content-Encoding"));
            Assert.Equal(plain, await GetAsync(connection, "/a.js"));
        }

        // Per representation: the first request admits it, the second approves it through the pipeline.
        Assert.True(metrics.Responses(ShortCircuit) >= 24, metrics.Dump());
    }

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task The_lane_is_off_unless_enabled(ZeroCopyTransportEngine engine)
    {
        await using var served = await Served.StartAsync(engine, enabled: false, app => app.UseZeroCopyStaticFiles());
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(served.File, await GetAsync(served.Connection, "/a.bin"));
        }

        Assert.Equal(0, served.Metrics.Responses(ShortCircuit));
        Assert.True(served.Metrics.Responses("hot-cache") >= 9, served.Metrics.Dump());
    }

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task A_middleware_with_a_prepare_callback_is_never_short_circuited(ZeroCopyTransportEngine engine)
    {
        await using var served = await Served.StartAsync(engine, enabled: true, app => app.UseZeroCopyStaticFiles(new StaticFileOptions
        {
            OnPrepareResponse = context => context.Context.Response.Headers["X-Prepared"] = "yes",
        }));
        var (bytes, metrics, connection) = (served.File, served.Metrics, served.Connection);
        for (var i = 0; i < 10; i++)
        {
            await connection.SendAsync(Wire.Get("/a.bin"));
            var response = await connection.ReadResponseAsync();
            Assert.Equal("yes", response.Header("X-Prepared"));
        }

        Assert.Equal(0, metrics.Responses(ShortCircuit));
    }

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task Files_of_a_Map_branch_are_not_answered_at_paths_outside_the_branch(ZeroCopyTransportEngine engine)
    {
        await using var served = await Served.StartAsync(engine, enabled: true, app =>
        {
            app.Map("/branch", branch => branch.UseZeroCopyStaticFiles());
            app.Run(context =>
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            });
        });
        var (bytes, metrics, connection) = (served.File, served.Metrics, served.Connection);
        for (var i = 0; i < 10; i++)
        {
            // Cached and hit through the branch (PathBase "/branch")...
            Assert.Equal(bytes, await GetAsync(connection, "/branch/a.bin"));
        }

        // ...the pipeline never gives "/a.bin" to the middleware: the lane must not either.
        for (var i = 0; i < 3; i++)
        {
            await connection.SendAsync(Wire.Get("/a.bin"));
            Assert.Equal(404, (await connection.ReadResponseAsync()).Status);
        }

        Assert.Equal(0, metrics.Responses(ShortCircuit));
    }

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task An_endpoint_with_the_path_of_a_file_keeps_answering(ZeroCopyTransportEngine engine)
    {
        await using var served = await Served.StartAsync(engine, enabled: true, app =>
        {
            app.UseRouting();
            app.UseZeroCopyStaticFiles();
            app.MapGet("/a.bin", () => "endpoint");
        });
        var (bytes, metrics, connection) = (served.File, served.Metrics, served.Connection);
        for (var i = 0; i < 10; i++)
        {
            await connection.SendAsync(Wire.Get("/a.bin"));
            var response = await connection.ReadResponseAsync();
            Assert.Equal("endpoint", System.Text.Encoding.UTF8.GetString(response.Body));
        }

        Assert.Equal(0, metrics.Responses(ShortCircuit));
    }
}

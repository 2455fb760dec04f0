using System.Diagnostics.Metrics;
using ZeroCopy.AspNetCore.Configuration;

namespace ZeroCopy.AspNetCore.Tests.ShortCircuit.Pipeline;

/// <summary>
/// <c>ZeroCopyStaticFiles:ShortCircuit:Enabled</c> follows a save of appsettings.json: switched on,
/// connections accepted afterwards get the lane; switched off, connections that have it stop
/// getting lane answers at once (their requests go to Kestrel). Real Kestrel, our transport, the
/// host's own JSON provider with reloadOnChange; every wait is on the library's change event.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LaneReloadTests : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(20);
    private readonly TempDirectory _contentRoot = new("zc-lane-reload");

    public void Dispose() => _contentRoot.Dispose();

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task Switching_the_lane_in_appsettings_json_takes_effect_without_restart(ZeroCopyTransportEngine engine)
    {
        var bytes = File.ReadAllBytes(_contentRoot.WriteRandom("wwwroot/a.bin", 4096));
        WriteAppSettings(enabled: false);
        await using var host = await TestHost.StartAsync(
            HostKind.Kestrel,
            _contentRoot.Path,
            builder =>
            {
                Engines.Use(builder, engine);
                builder.Services.AddZeroCopyStaticFiles();
            },
            app => app.UseZeroCopyStaticFiles());
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<IMeterFactory>());
        var settings = host.Services.GetRequiredService<ZeroCopySettings>();

        await using (var off = await WireClient.ConnectAsync(host.Port, resetIsEnd: true))
        {
            await GetAsync(off, bytes, 10);
        }

        Assert.Equal(0, metrics.Responses("short-circuit"));

        await ChangeAsync(settings, enabled: true);
        await using var on = await WireClient.ConnectAsync(host.Port, resetIsEnd: true);
        // The change rebuilt the site with an empty cache: 1 admits (and is the connection's
        // first request, always Kestrel's), 2 is a hit through the pipeline, 3..10 the lane.
        await GetAsync(on, bytes, 10);
        Assert.Equal(8, metrics.Responses("short-circuit"));

        await ChangeAsync(settings, enabled: false);
        await GetAsync(on, bytes, 5);
        Assert.Equal(8, metrics.Responses("short-circuit"));
    }

    private static async Task GetAsync(WireClient connection, byte[] expected, int count)
    {
        for (var i = 0; i < count; i++)
        {
            await connection.SendAsync(Wire.Get("/a.bin"));
            var response = await connection.ReadResponseAsync();
            Assert.Equal(200, response.Status);
            Assert.Equal(expected, response.Body);
        }
    }

    private async Task ChangeAsync(ZeroCopySettings settings, bool enabled)
    {
        var applied = new TaskCompletionSource<SettingsChange>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChanged(SettingsChange change) => applied.TrySetResult(change);
        settings.Changed += OnChanged;
        try
        {
            WriteAppSettings(enabled);
            Assert.Equal(SettingsChange.Responses, await applied.Task.WaitAsync(s_timeout, TestContext.Current.CancellationToken));
        }
        finally
        {
            settings.Changed -= OnChanged;
        }
    }

    private void WriteAppSettings(bool enabled)
    {
        // Write then rename, so the watcher never reads a half-written file.
        var json = $$"""{ "ZeroCopyStaticFiles": { "Cache": { "MinHits": 1 }, "ShortCircuit": { "Enabled": {{(enabled ? "true" : "false")}} } } }""";
        var temporary = _contentRoot.Combine("appsettings.json.tmp");
        File.WriteAllText(temporary, json);
        File.Move(temporary, _contentRoot.Combine("appsettings.json"), overwrite: true);
    }
}

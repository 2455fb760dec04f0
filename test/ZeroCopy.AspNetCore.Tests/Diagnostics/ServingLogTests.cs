namespace ZeroCopy.AspNetCore.Tests.Diagnostics;

public sealed class ServingLogTests : IDisposable
{
    private readonly TempDirectory _contentRoot = new("zc-serving-log");

    public void Dispose() => _contentRoot.Dispose();

    [Fact]
    public async Task The_serving_line_names_the_site_root_as_slash_and_a_prefix_as_itself()
    {
        await using var host = await TestHost.StartAsync(
            HostKind.TestServer,
            _contentRoot.Path,
            builder => builder.Services.AddZeroCopyStaticFiles(),
            app =>
            {
                app.UseZeroCopyStaticFiles();
                app.UseZeroCopyStaticFiles("/static");
            });

        var lines = host.Logs.ForEvent("Serving").Select(r => r.Message).ToList();

        Assert.True(lines.Count == 2, string.Join('\n', lines));
        var wwwroot = Path.Combine(_contentRoot.Path, "wwwroot");
        Assert.Single(lines, l => l.StartsWith($"Serving {wwwroot}/ at /: mode Auto, body strategies ", StringComparison.Ordinal));
        Assert.Single(lines, l => l.StartsWith($"Serving {wwwroot}/ at /static: mode Auto, body strategies ", StringComparison.Ordinal));
        Assert.All(lines, l => Assert.DoesNotContain("''", l, StringComparison.Ordinal));
    }
}

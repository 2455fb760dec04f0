using System.Net;
using System.Security.Cryptography;
using System.Text.Json;

namespace ZeroCopy.AspNetCore.Tests.Files;

/// <summary>ETag:Mode=ContentHash: the same bytes get the same ETag on every machine.</summary>
public sealed class ETagModeTests : IDisposable
{
    private readonly TempDirectory _first = new("zc-etag-a");
    private readonly TempDirectory _second = new("zc-etag-b");
    private readonly byte[] _content;

    public ETagModeTests()
    {
        _content = File.ReadAllBytes(_first.WriteRandom("app.js", 50_000, seed: 77));
        _second.Write("app.js", _content);
        // Two deployments of the same bytes, at different times.
        File.SetLastWriteTimeUtc(_first.Combine("app.js"), new DateTime(2025, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        File.SetLastWriteTimeUtc(_second.Combine("app.js"), new DateTime(2025, 6, 1, 0, 0, 0, DateTimeKind.Utc));
    }

    public void Dispose()
    {
        _first.Dispose();
        _second.Dispose();
    }

    private static Task<TestHost> StartAsync(TempDirectory root, ETagMode mode, HostKind kind = HostKind.Kestrel, string? manifest = null)
        => Hosts.ZeroCopyAsync(kind, root, configureBuilder: b => b.Services.AddZeroCopyStaticFiles(o =>
        {
            o.ETag.Mode = mode;
            o.ETag.Manifest = manifest;
            o.Cache.MinHits = 1;
        }));

    [Theory]
    [InlineData(HostKind.Kestrel)]
    [InlineData(HostKind.TestServer)]
    public async Task Content_hash_ETags_are_identical_across_servers_and_survive_the_cache(HostKind kind)
    {
        var expected = "\"" + Convert.ToBase64String(SHA256.HashData(_content)) + "\"";
        await using var a = await StartAsync(_first, ETagMode.ContentHash, kind);
        await using var b = await StartAsync(_second, ETagMode.ContentHash, kind);
        await using var stock = await StartAsync(_second, ETagMode.Stock, kind);
        var ct = TestContext.Current.CancellationToken;

        var tags = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            tags.Add((await a.Client.GetAsync("/app.js", ct)).Headers.ETag!.Tag);
            tags.Add((await b.Client.GetAsync("/app.js", ct)).Headers.ETag!.Tag);
        }

        Assert.All(tags, tag => Assert.Equal(expected, tag));
        Assert.NotEqual(expected, (await stock.Client.GetAsync("/app.js", ct)).Headers.ETag!.Tag);

        // A conditional request validated on one server is a 304 on the other.
        using var request = new HttpRequestMessage(HttpMethod.Get, "/app.js") { Headers = { { "If-None-Match", tags[0] } } };
        Assert.Equal(HttpStatusCode.NotModified, (await b.Client.SendAsync(request, ct)).StatusCode);
    }

    [Fact]
    public async Task A_changed_file_gets_a_new_content_hash()
    {
        await using var host = await Hosts.ZeroCopyAsync(HostKind.Kestrel, _first, configureBuilder: b => b.Services.AddZeroCopyStaticFiles(o =>
        {
            o.ETag.Mode = ETagMode.ContentHash;
            o.Cache.RevalidateAfter = TimeSpan.Zero;
        }));
        var ct = TestContext.Current.CancellationToken;
        // Connection: close, so the request after the rewrite goes on a new connection: the transport
        // may reset a connection whose file changed right after its last transfer (README, "The
        // zero-copy transport"), which is not what this test is about.
        using var first = new HttpRequestMessage(HttpMethod.Get, "/app.js");
        first.Headers.ConnectionClose = true;
        var before = (await host.Client.SendAsync(first, ct)).Headers.ETag!.Tag;

        var changed = (byte[])_content.Clone();
        changed[0] ^= 0xFF;
        File.WriteAllBytes(_first.Combine("app.js"), changed);

        var after = (await host.Client.GetAsync("/app.js", ct)).Headers.ETag!.Tag;
        Assert.NotEqual(before, after);
        Assert.Equal("\"" + Convert.ToBase64String(SHA256.HashData(changed)) + "\"", after);
    }

    [Fact]
    public async Task A_MapStaticAssets_manifest_supplies_the_hash_while_the_file_still_matches_it()
    {
        var lastModified = File.GetLastWriteTimeUtc(_first.Combine("app.js"));
        var manifest = new
        {
            Version = 1,
            ManifestType = "Build",
            Endpoints = new object[]
            {
                new
                {
                    Route = "app.js",
                    AssetFile = "app.js",
                    Selectors = Array.Empty<object>(),
                    ResponseHeaders = new[]
                    {
                        new { Name = "ETag", Value = "\"from-the-manifest\"" },
                        new { Name = "Content-Length", Value = _content.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                        new { Name = "Last-Modified", Value = new DateTimeOffset(lastModified).ToString("r", System.Globalization.CultureInfo.InvariantCulture) },
                    },
                },
            },
        };
        var manifestPath = _first.Combine("app.staticwebassets.endpoints.json");
        File.WriteAllText(manifestPath, JsonSerializer.Serialize(manifest));

        await using (var host = await StartAsync(_first, ETagMode.ContentHash, manifest: manifestPath))
        {
            Assert.Equal("\"from-the-manifest\"", (await host.Client.GetAsync("/app.js", TestContext.Current.CancellationToken)).Headers.ETag!.Tag);
        }

        // Once the file no longer matches the build, the manifest is not trusted.
        File.SetLastWriteTimeUtc(_first.Combine("app.js"), lastModified.AddHours(1));
        await using (var host = await StartAsync(_first, ETagMode.ContentHash, manifest: manifestPath))
        {
            Assert.Equal("\"" + Convert.ToBase64String(SHA256.HashData(_content)) + "\"", (await host.Client.GetAsync("/app.js", TestContext.Current.CancellationToken)).Headers.ETag!.Tag);
        }
    }
}

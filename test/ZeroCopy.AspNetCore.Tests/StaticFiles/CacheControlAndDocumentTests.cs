using System.Net;

namespace ZeroCopy.AspNetCore.Tests.StaticFiles;

/// <summary>Cache-Control rules, default documents and the SPA fallback.</summary>
public sealed class CacheControlAndDocumentTests : IDisposable
{
    private readonly TempDirectory _root = new("zc-docs");

    public CacheControlAndDocumentTests()
    {
        _root.Write("index.html", "<p>home</p>");
        _root.Write("docs/index.html", "<p>docs</p>");
        _root.Write("assets/app.3f2a9c.js", "app");
        _root.Write("assets/lib/deep.js", "deep");
        _root.Write("fonts/x.woff2", "font");
        _root.Write("site.css", "css");
        _root.Write("empty/readme.txt", "no index here");
    }

    public void Dispose() => _root.Dispose();

    private Task<TestHost> StartAsync(HostKind kind, Action<ZeroCopyStaticFilesOptions> configure, Action<WebApplication>? after = null)
        => Hosts.ZeroCopyAsync(kind, _root, configureBuilder: b => b.Services.AddZeroCopyStaticFiles(configure), after: after);

    [Theory]
    [InlineData(HostKind.Kestrel)]
    [InlineData(HostKind.TestServer)]
    public async Task The_first_matching_cache_control_rule_wins(HostKind kind)
    {
        await using var host = await StartAsync(kind, o =>
        {
            o.CacheControl = "no-cache";
            o.CacheControlRules =
            [
                new CacheControlRule { Match = "*.*.js", CacheControl = "public, max-age=31536000, immutable" },
                new CacheControlRule { Match = "assets/**", CacheControl = "public, max-age=600" },
                new CacheControlRule { Match = ".woff2", CacheControl = "public, max-age=86400" },
            ];
        });
        var ct = TestContext.Current.CancellationToken;

        async Task<string?> CacheControl(string path)
        {
            using var response = await host.Client.GetAsync(path, ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return response.Headers.CacheControl?.ToString();
        }

        Assert.Equal("public, max-age=31536000, immutable", await CacheControl("/assets/app.3f2a9c.js"));
        Assert.Equal("public, max-age=600", await CacheControl("/assets/lib/deep.js"));
        Assert.Equal("public, max-age=86400", await CacheControl("/fonts/x.woff2"));
        Assert.Equal("no-cache", await CacheControl("/site.css"));
    }

    [Theory]
    [InlineData(HostKind.Kestrel)]
    [InlineData(HostKind.TestServer)]
    public async Task Directories_serve_their_default_document_and_get_a_trailing_slash(HostKind kind)
    {
        await using var host = await StartAsync(kind, o => o.DefaultDocuments.Enabled = true);
        var ct = TestContext.Current.CancellationToken;

        Assert.Equal("<p>home</p>", await host.Client.GetStringAsync("/", ct));
        Assert.Equal("<p>docs</p>", await host.Client.GetStringAsync("/docs/", ct));
        using var redirect = await host.Client.GetAsync("/docs?x=1", ct);
        Assert.Equal(HttpStatusCode.MovedPermanently, redirect.StatusCode);
        Assert.Equal(new Uri(host.BaseAddress, "/docs/?x=1"), redirect.Headers.Location);
        using var head = await host.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/docs/"), ct);
        Assert.Equal("text/html", head.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("/empty/", ct)).StatusCode);
    }

    [Fact]
    public async Task Default_documents_are_off_by_default_as_in_stock()
    {
        await using var host = await StartAsync(HostKind.Kestrel, _ => { });

        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("/", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("/docs/", TestContext.Current.CancellationToken)).StatusCode);
    }

    [Theory]
    [InlineData(HostKind.Kestrel)]
    [InlineData(HostKind.TestServer)]
    public async Task Routes_without_a_file_get_the_spa_fallback(HostKind kind)
    {
        await using var host = await StartAsync(kind, o => o.FallbackFile = "index.html", app => app.MapGet("/api/ping", () => "pong"));
        var ct = TestContext.Current.CancellationToken;

        using var route = await host.Client.GetAsync("/orders/42", ct);
        Assert.Equal(HttpStatusCode.OK, route.StatusCode);
        Assert.Equal("<p>home</p>", await route.Content.ReadAsStringAsync(ct));
        Assert.Equal("text/html", route.Content.Headers.ContentType?.MediaType);
        Assert.NotNull(route.Headers.ETag);
        Assert.Equal("pong", await host.Client.GetStringAsync("/api/ping", ct));
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("/missing.js", ct)).StatusCode);
        Assert.Equal("css", await host.Client.GetStringAsync("/site.css", ct));
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.PostAsync("/orders/42", null, ct)).StatusCode);
    }
}

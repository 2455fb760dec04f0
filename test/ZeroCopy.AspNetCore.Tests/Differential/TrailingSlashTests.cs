using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.FileProviders;

namespace ZeroCopy.AspNetCore.Tests.Differential;

/// <summary>
/// A file name followed by <c>/</c> (<c>/index.html/</c>): what stock <c>UseStaticFiles</c> and
/// ours answer, side by side, under the options that decide stock's answer. The README's
/// differences table states these cases.
/// </summary>
public sealed class TrailingSlashTests
{
    /// <summary>Which content type the options give a path ending in <c>/</c>.</summary>
    public enum TypeLookup
    {
        /// <summary>Default options: FileExtensionContentTypeProvider, ServeUnknownFileTypes false.</summary>
        Defaults,

        /// <summary>ServeUnknownFileTypes = true: a path without a known type is served as application/octet-stream.</summary>
        ServeUnknownFileTypes,

        /// <summary>A content type provider that gives every path a type (text/plain).</summary>
        ProviderKnowsEveryPath,
    }

    [Theory]
    [InlineData(TypeLookup.Defaults)]
    [InlineData(TypeLookup.ServeUnknownFileTypes)]
    [InlineData(TypeLookup.ProviderKnowsEveryPath)]
    public async Task A_file_name_followed_by_a_slash_is_404_for_ours_and_depends_on_the_type_lookup_for_stock(TypeLookup lookup)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var site = new DifferentialSite();
        var dotFileLength = new FileInfo(site.Root.Combine(".dotfile.txt")).Length;
        var indexLength = site.Files.Single(f => f.UrlPath == "/index.html").Content.Length;
        List<(string Target, long FileLength)> targets = [("/index.html/", indexLength), ("/.dotfile.txt/", dotFileLength)];
        if (OperatingSystem.IsLinux())
        {
            // A symlink to a file outside the root: stock describes the link itself (lstat), so its
            // length is that of the link's text.
            var link = site.AddSpecialEntries()["escape-link"];
            targets.Add((link + "/", Encoding.UTF8.GetByteCount(site.Outside.Combine("canary.txt"))));
        }

        await using var servers = await StartAsync(site, lookup);

        var observations = new StringBuilder();
        foreach (var (target, fileLength) in targets)
        {
            foreach (var method in new[] { "GET", "HEAD" })
            {
                var request = new ProbeRequest(method, target, []);
                var stock = await Prober.SendAsync(servers.Stock, request, cancellationToken);
                var ours = await Prober.SendAsync(servers.Ours, request, cancellationToken);
                var oursMissing = await Prober.SendAsync(servers.Ours, request with { Target = "/nonexistent.txt" }, cancellationToken);
                observations.Append(CultureInfo.InvariantCulture, $"{lookup} {request}:\n  stock {stock}\n  ours  {ours}\n");

                // Ours: not a file, so exactly what a missing file gets (404 from the next middleware).
                Assert.True(ours.Status == 404 && ours.SameAs(oursMissing), $"{lookup} {request}: ours {ours}, expected {oursMissing}");

                if (lookup == TypeLookup.Defaults)
                {
                    // The default provider has no type for a path ending in '/': stock falls through.
                    Assert.True(stock.SameAs(ours), $"{lookup} {request}: stock {stock}, ours {ours}");
                }
                else if (method == "GET")
                {
                    // Stock opens "index.html/": open(2) fails with ENOTDIR (a trailing slash names a
                    // directory), an exception the server turns into 500.
                    Assert.True(stock.Status == 500, $"{lookup} {request}: stock {stock}");
                }
                else
                {
                    // HEAD opens nothing: the provider's metadata for the name before the slash is sent.
                    Assert.True(
                        stock.Status == 200
                            && stock.HeaderValue("content-length") == fileLength.ToString(CultureInfo.InvariantCulture)
                            && stock.HeaderValue("etag") is not null
                            && stock.HeaderValue("last-modified") is not null,
                        $"{lookup} {request}: stock {stock}");
                }
            }
        }

        TestContext.Current.TestOutputHelper?.WriteLine(observations.ToString());
    }

    /// <summary>Stock and ours on Kestrel (127.0.0.1:0) with equal options, each with its own provider.</summary>
    private static Task<ServerPair> StartAsync(DifferentialSite site, TypeLookup lookup)
        => site.StartAsync(HostKind.Kestrel, options: provider => lookup switch
        {
            TypeLookup.ServeUnknownFileTypes => new StaticFileOptions { FileProvider = provider, ServeUnknownFileTypes = true },
            TypeLookup.ProviderKnowsEveryPath => new StaticFileOptions { FileProvider = provider, ContentTypeProvider = new EveryPathIsText() },
            _ => new StaticFileOptions { FileProvider = provider },
        });

    private sealed class EveryPathIsText : IContentTypeProvider
    {
        public bool TryGetContentType(string subpath, out string contentType)
        {
            contentType = "text/plain";
            return true;
        }
    }
}

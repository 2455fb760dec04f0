using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Primitives;
using ZeroCopy.AspNetCore.Tests.Infrastructure;

namespace ZeroCopy.AspNetCore.Tests.Body;

/// <summary>
/// A provider whose files have no physical path (embedded resources, in-memory, custom): bodies are
/// read from <see cref="IFileInfo.CreateReadStream"/>, seeked for ranges, byte-exact, and counted
/// as a not-physical fallback on the zero-copy transport.
/// </summary>
public sealed class NonPhysicalProviderTests : IDisposable
{
    private readonly TempDirectory _root = new("zc-nonphysical");
    private readonly byte[] _content = new byte[300_000];

    public NonPhysicalProviderTests() => new Random(21).NextBytes(_content);

    public void Dispose() => _root.Dispose();

    [Theory]
    [InlineData(HostKind.TestServer)]
    [InlineData(HostKind.Kestrel)]
    public async Task A_file_without_a_physical_path_is_served_whole_and_by_range_from_its_stream(HostKind kind)
    {
        var provider = new InMemoryProvider("/blob.bin", _content);
        await using var host = await Hosts.ZeroCopyAsync(kind, _root, o => o.FileProvider = provider);
        using var metrics = new MetricsCollector(host.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());

        using var full = await host.Client.GetAsync("/blob.bin", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, full.StatusCode);
        Assert.Equal(_content.Length, full.Content.Headers.ContentLength);
        Assert.Equal(_content, await full.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));

        using var request = new HttpRequestMessage(HttpMethod.Get, "/blob.bin");
        request.Headers.Range = new RangeHeaderValue(200_000, 250_000);
        using var partial = await host.Client.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal(_content.AsSpan(200_000, 50_001).ToArray(), await partial.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));

        Assert.True(await Poll.UntilAsync(() => metrics.Responses("stream") == 2, TimeSpan.FromSeconds(10)), metrics.Dump());
        if (kind == HostKind.Kestrel && OperatingSystem.IsLinux())
        {
            Assert.Equal(2, metrics.Fallbacks("not-physical"));
        }
    }

    private sealed class InMemoryProvider(string path, byte[] content) : IFileProvider
    {
        private readonly DateTimeOffset _modified = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

        public IFileInfo GetFileInfo(string subpath)
            => string.Equals(subpath, path, StringComparison.Ordinal) ? new InMemoryFile(Path.GetFileName(path), content, _modified) : new NotFoundFileInfo(subpath);

        public IDirectoryContents GetDirectoryContents(string subpath) => NotFoundDirectoryContents.Singleton;

        public IChangeToken Watch(string filter) => NullChangeToken.Singleton;
    }

    private sealed class InMemoryFile(string name, byte[] content, DateTimeOffset modified) : IFileInfo
    {
        public bool Exists => true;

        public long Length => content.Length;

        public string? PhysicalPath => null;

        public string Name => name;

        public DateTimeOffset LastModified => modified;

        public bool IsDirectory => false;

        public Stream CreateReadStream() => new MemoryStream(content, writable: false);
    }
}

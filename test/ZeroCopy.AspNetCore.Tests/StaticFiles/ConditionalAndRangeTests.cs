using System.Net;

namespace ZeroCopy.AspNetCore.Tests.StaticFiles;

/// <summary>Conditional requests (RFC 9110 §13) and single ranges (§14).</summary>
public sealed class ConditionalAndRangeTests : IAsyncLifetime
{
    private static readonly DateTimeOffset s_lastWrite = new(2025, 1, 2, 3, 4, 5, TimeSpan.Zero);
    private readonly TempDirectory _root = new("zc-cond");
    private byte[] _content = [];
    private TestHost _host = null!;
    private string _etag = string.Empty;

    public async ValueTask InitializeAsync()
    {
        var path = _root.WriteRandom("f.bin", 1000, seed: 7);
        File.SetLastWriteTimeUtc(path, s_lastWrite.UtcDateTime);
        _content = File.ReadAllBytes(path);
        _host = await Hosts.ZeroCopyAsync(HostKind.Kestrel, _root);
        _etag = "\"" + (s_lastWrite.ToFileTime() ^ 1000L).ToString("x") + "\"";
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        _root.Dispose();
    }

    private async Task<HttpResponseMessage> SendAsync(string method, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), "/f.bin");
        foreach (var (name, value) in headers)
        {
            Assert.True(request.Headers.TryAddWithoutValidation(name, value));
        }

        return await _host.Client.SendAsync(request, TestContext.Current.CancellationToken);
    }

    private static string Date(DateTimeOffset value) => value.ToString("r");

    [Fact]
    public async Task If_none_match_with_the_current_tag_answers_304_with_validators_and_no_length()
    {
        using var response = await SendAsync("GET", ("If-None-Match", _etag));

        Assert.Equal(HttpStatusCode.NotModified, response.StatusCode);
        Assert.Equal(_etag, response.Headers.ETag?.Tag);
        Assert.Equal(s_lastWrite, response.Content.Headers.LastModified);
        Assert.Equal("bytes", Assert.Single(response.Headers.AcceptRanges));
        Assert.Empty(await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("W/")]
    [InlineData("")]
    public async Task If_none_match_uses_the_weak_comparison(string prefix)
    {
        using var response = await SendAsync("GET", ("If-None-Match", "\"zzz\", " + prefix + _etag));

        Assert.Equal(HttpStatusCode.NotModified, response.StatusCode);
    }

    [Fact]
    public async Task If_none_match_star_answers_304()
    {
        using var response = await SendAsync("HEAD", ("If-None-Match", "*"));

        Assert.Equal(HttpStatusCode.NotModified, response.StatusCode);
    }

    [Fact]
    public async Task If_none_match_takes_precedence_over_if_modified_since()
    {
        // The date alone would say "not modified"; the tag says it changed: RFC 9110 §13.1.3.
        using var changed = await SendAsync("GET", ("If-None-Match", "\"old\""), ("If-Modified-Since", Date(s_lastWrite.AddDays(1))));
        // The date alone would say "modified"; the tag matches.
        using var same = await SendAsync("GET", ("If-None-Match", _etag), ("If-Modified-Since", Date(s_lastWrite.AddDays(-1))));

        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        Assert.Equal(HttpStatusCode.NotModified, same.StatusCode);
    }

    [Fact]
    public async Task If_modified_since_alone_follows_the_stock_rules()
    {
        using var notModified = await SendAsync("GET", ("If-Modified-Since", Date(s_lastWrite)));
        using var modified = await SendAsync("GET", ("If-Modified-Since", Date(s_lastWrite.AddSeconds(-1))));
        using var future = await SendAsync("GET", ("If-Modified-Since", Date(DateTimeOffset.UtcNow.AddDays(2))));
        using var invalid = await SendAsync("GET", ("If-Modified-Since", "yesterday"));

        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Equal(HttpStatusCode.OK, modified.StatusCode);
        Assert.Equal(HttpStatusCode.OK, future.StatusCode);
        Assert.Equal(HttpStatusCode.OK, invalid.StatusCode);
    }

    [Fact]
    public async Task If_match_compares_strongly_and_fails_with_412_without_validators()
    {
        using var weak = await SendAsync("GET", ("If-Match", "W/" + _etag));
        using var strong = await SendAsync("GET", ("If-Match", _etag));
        using var star = await SendAsync("GET", ("If-Match", "*"));

        Assert.Equal(HttpStatusCode.PreconditionFailed, weak.StatusCode);
        Assert.Null(weak.Headers.ETag);
        Assert.Null(weak.Content.Headers.LastModified);
        Assert.Equal(HttpStatusCode.OK, strong.StatusCode);
        Assert.Equal(HttpStatusCode.OK, star.StatusCode);
    }

    [Fact]
    public async Task If_match_takes_precedence_over_if_unmodified_since()
    {
        using var response = await SendAsync("GET", ("If-Match", _etag), ("If-Unmodified-Since", Date(s_lastWrite.AddDays(-1))));
        using var alone = await SendAsync("GET", ("If-Unmodified-Since", Date(s_lastWrite.AddDays(-1))));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpStatusCode.PreconditionFailed, alone.StatusCode);
    }

    [Fact]
    public async Task A_true_if_none_match_answers_304_even_when_if_match_passed()
    {
        using var response = await SendAsync("GET", ("If-Match", _etag), ("If-None-Match", _etag));

        Assert.Equal(HttpStatusCode.NotModified, response.StatusCode);
    }

    [Fact]
    public async Task Unparseable_conditional_headers_are_ignored()
    {
        using var response = await SendAsync("GET", ("If-Match", "garbage"), ("If-None-Match", "also garbage"), ("If-Unmodified-Since", "not a date"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("bytes=0-0", 0, 1)]
    [InlineData("bytes=10-19", 10, 10)]
    [InlineData("bytes=990-", 990, 10)]
    [InlineData("bytes=-5", 995, 5)]
    [InlineData("bytes=-5000", 0, 1000)]
    [InlineData("bytes=500-99999", 500, 500)]
    public async Task A_single_range_answers_206_with_the_slice(string range, int start, int length)
    {
        using var response = await SendAsync("GET", ("Range", range));

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal($"bytes {start}-{start + length - 1}/1000", response.Content.Headers.ContentRange?.ToString());
        Assert.Equal(length, response.Content.Headers.ContentLength);
        Assert.Equal(_content.AsSpan(start, length).ToArray(), await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.Equal(_etag, response.Headers.ETag?.Tag);
    }

    [Theory]
    [InlineData("bytes=1000-")]
    [InlineData("bytes=5000-6000")]
    [InlineData("bytes=-0")]
    public async Task An_unsatisfiable_range_answers_416_with_the_star_content_range(string range)
    {
        using var response = await SendAsync("GET", ("Range", range));

        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, response.StatusCode);
        Assert.Equal("bytes */1000", response.Content.Headers.ContentRange?.ToString());
        Assert.Null(response.Headers.ETag);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("bytes=abc")]
    [InlineData("bytes=5-2")]
    [InlineData("bytes=0-1,")]
    public async Task Invalid_ranges_answer_the_full_file(string range)
    {
        using var response = await SendAsync("GET", ("Range", range));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(_content, await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task If_range_with_a_matching_validator_keeps_the_range_and_a_stale_one_sends_everything()
    {
        using var tag = await SendAsync("GET", ("Range", "bytes=0-9"), ("If-Range", _etag));
        using var date = await SendAsync("GET", ("Range", "bytes=0-9"), ("If-Range", Date(s_lastWrite)));
        using var staleTag = await SendAsync("GET", ("Range", "bytes=0-9"), ("If-Range", "\"stale\""));
        using var weakTag = await SendAsync("GET", ("Range", "bytes=0-9"), ("If-Range", "W/" + _etag));
        using var staleDate = await SendAsync("GET", ("Range", "bytes=0-9"), ("If-Range", Date(s_lastWrite.AddSeconds(-1))));

        Assert.Equal(HttpStatusCode.PartialContent, tag.StatusCode);
        Assert.Equal(HttpStatusCode.PartialContent, date.StatusCode);
        Assert.Equal(HttpStatusCode.OK, staleTag.StatusCode);
        Assert.Equal(HttpStatusCode.OK, weakTag.StatusCode);
        Assert.Equal(HttpStatusCode.OK, staleDate.StatusCode);
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Net.Http.Headers;
using ZeroCopy.AspNetCore.StaticFiles;

namespace ZeroCopy.AspNetCore.Tests.Adversarial;

/// <summary>
/// Issue 6, case 3: thousands of entity-tags in If-None-Match and If-Match, invalid and duplicated
/// dates, header values near Kestrel's limits. Correct answers (RFC 9110 §13.2.2 as ours documents
/// it), and bounded CPU: linear in the size of the header.
/// </summary>
public sealed class HeaderAdversarialTests : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);
    private readonly RangeSite _site = new();

    public void Dispose() => _site.Dispose();

    /// <summary><paramref name="count"/> distinct strong tags that never match: "a00","a01",... (short, so 5,000 fit in Kestrel's 32 KiB).</summary>
    internal static string Tags(int count, string prefix = "")
        => string.Join(',', Enumerable.Range(0, count).Select(i => prefix + "\"" + i.ToString("x", CultureInfo.InvariantCulture) + "\""));

    [Fact]
    public async Task Thousands_of_tags_duplicated_and_invalid_conditionals_get_the_right_answer()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        // Default Kestrel limits (32 KiB of headers, 100 header lines), and a host allowing 1 MiB.
        await using var ours = await _site.StartOursAsync();
        await using var large = await _site.StartOursAsync(kestrel: o => o.Limits.MaxRequestHeadersTotalSize = 1 << 20);
        var head = (await RawRunner.RunAsync(ours.Port, [new RawRequest(0, "HEAD", "/small.bin"u8.ToArray(), [])], 1, s_timeout, cancellationToken))[0];
        var etag = head.Header("ETag")!;
        var lastModified = head.Header("Last-Modified")!;
        var date = RangeSite.LastModified;
        var garbage30k = new string('x', 30_000);

        (string Name, string[] Headers, int Status, bool Large)[] cases =
        [
            ("If-None-Match: 5,000 other tags", ["If-None-Match: " + Tags(5000)], 200, false),
            ("If-None-Match: 5,000 other tags, then the ETag", ["If-None-Match: " + Tags(5000) + "," + etag], 304, false),
            ("If-None-Match: 4,000 weak tags, then W/ETag (weak comparison)", ["If-None-Match: " + Tags(4000, "W/") + ",W/" + etag], 304, false),
            ("If-None-Match: 5,000 tags then *", ["If-None-Match: " + Tags(5000) + ",*"], 304, false),
            ("If-None-Match: 90 lines of 50 tags, ETag on the last", [.. Enumerable.Range(0, 89).Select(_ => "If-None-Match: " + Tags(50)), "If-None-Match: " + Tags(50) + "," + etag], 304, false),
            ("If-Match: 5,000 other tags", ["If-Match: " + Tags(5000)], 412, false),
            ("If-Match: 5,000 other tags, then the ETag", ["If-Match: " + Tags(5000) + "," + etag], 200, false),
            ("If-Match: 4,000 weak tags, then W/ETag (strong comparison)", ["If-Match: " + Tags(4000, "W/") + ",W/" + etag], 412, false),
            ("If-Match: 5,000 tags + If-None-Match: 5,000 tags", ["If-Match: " + Tags(2500) + "," + etag, "If-None-Match: " + Tags(2500)], 200, false),
            ("If-None-Match: 50,000 tags, then the ETag (1 MiB limit)", ["If-None-Match: " + Tags(50_000) + "," + etag], 304, true),
            ("If-Match: 50,000 other tags (1 MiB limit)", ["If-Match: " + Tags(50_000)], 412, true),
            ("If-None-Match: 5,000 tags + If-Modified-Since exact (IMS ignored)", ["If-None-Match: " + Tags(5000), "If-Modified-Since: " + lastModified], 200, false),
            // Duplicated conditional headers.
            ("two If-Modified-Since lines (joined: not a date)", ["If-Modified-Since: " + lastModified, "If-Modified-Since: " + lastModified], 200, false),
            ("two If-Unmodified-Since lines, earlier (ignored)", ["If-Unmodified-Since: " + RangeSite.HttpDate(date.AddDays(-1)), "If-Unmodified-Since: " + RangeSite.HttpDate(date.AddDays(-1))], 200, false),
            ("two If-Match lines, the second matching", ["If-Match: \"x\"", "If-Match: " + etag], 200, false),
            ("two If-None-Match lines, the second matching", ["If-None-Match: \"x\"", "If-None-Match: " + etag], 304, false),
            ("If-Modified-Since 90 times", [.. Enumerable.Repeat("If-Modified-Since: " + lastModified, 90)], 200, false),
            // Invalid dates.
            ("If-Modified-Since: garbage", ["If-Modified-Since: garbage"], 200, false),
            ("If-Modified-Since: 32 January", ["If-Modified-Since: Mon, 32 Jan 2024 00:00:00 GMT"], 200, false),
            ("If-Modified-Since: wrong weekday", ["If-Modified-Since: Sun, 04 Mar 2024 05:06:07 GMT"], 200, false),
            ("If-Modified-Since: year 9999 (future: ignored)", ["If-Modified-Since: Fri, 31 Dec 9999 23:59:59 GMT"], 200, false),
            ("If-Modified-Since: year 1 (modified since)", ["If-Modified-Since: Mon, 01 Jan 0001 00:00:00 GMT"], 200, false),
            ("If-Modified-Since: exact, RFC 850", ["If-Modified-Since: " + date.UtcDateTime.ToString("dddd, dd'-'MMM'-'yy HH':'mm':'ss 'GMT'", CultureInfo.InvariantCulture)], 304, false),
            ("If-Modified-Since: exact, asctime", ["If-Modified-Since: " + date.UtcDateTime.ToString("ddd MMM d HH':'mm':'ss yyyy", CultureInfo.InvariantCulture).Replace(" 4 ", "  4 ", StringComparison.Ordinal)], 304, false),
            ("If-Modified-Since: 30,000 characters of garbage", ["If-Modified-Since: " + garbage30k], 200, false),
            ("If-Unmodified-Since: garbage", ["If-Unmodified-Since: garbage"], 200, false),
            ("If-Unmodified-Since: year 1", ["If-Unmodified-Since: Mon, 01 Jan 0001 00:00:00 GMT"], 412, false),
            ("If-Unmodified-Since: numeric offset", ["If-Unmodified-Since: Mon, 04 Mar 2024 04:06:07 -0100"], 200, false),
            // Very long values within Kestrel's limit.
            ("If-Match: 30,000 characters of garbage (ignored)", ["If-Match: " + garbage30k], 200, false),
            ("If-None-Match: 30,000 characters of garbage (ignored)", ["If-None-Match: " + garbage30k], 200, false),
            ("If-None-Match: one 30,000-character tag", ["If-None-Match: \"" + garbage30k + "\""], 200, false),
            ("Range: 30,000 characters of garbage", ["Range: " + garbage30k], 200, false),
            ("If-Range: 30,000 characters of garbage with a range", ["Range: bytes=0-0", "If-Range: " + garbage30k], 206, false),
            ("If-None-Match: 1,000 times *", ["If-None-Match: " + string.Join(',', Enumerable.Repeat("*", 1000))], 304, false),
            ("If-None-Match: 5,000 empty list members", ["If-None-Match: " + new string(',', 5000) + etag], 304, false),
        ];

        var failures = new List<string>();
        var slowest = TimeSpan.Zero;
        foreach (var (name, headers, status, useLarge) in cases)
        {
            var host = useLarge ? large : ours;
            foreach (var method in new[] { "GET", "HEAD" })
            {
                var request = new RawRequest(0, method, "/small.bin"u8.ToArray(), headers);
                var result = (await RawRunner.RunAsync(host.Port, [request], 1, s_timeout, cancellationToken))[0];
                var expected = method == "HEAD" && status == 206 ? 200 : status;
                slowest = result.Elapsed > slowest ? result.Elapsed : slowest;
                if (result.Status != expected || !result.BodyComplete)
                {
                    failures.Add($"{method} {name}: expected {expected}, got {result}");
                }
                else if (method == "GET" && status == 200 && !result.Body.AsSpan().SequenceEqual(_site.Content["small.bin"]))
                {
                    failures.Add($"{method} {name}: wrong body");
                }
            }
        }

        var errors = ours.Logs.Records.Concat(large.Logs.Records).Where(r => r.Level >= LogLevel.Error).ToList();
        Figures.Report("headers.cases", $"{cases.Length} cases × GET/HEAD: {failures.Count} wrong answers, {errors.Count} Error-level logs, slowest {slowest.TotalMilliseconds:F0} ms");
        Assert.True(failures.Count == 0, string.Join('\n', failures));
        Assert.True(errors.Count == 0, string.Join('\n', errors.Select(e => $"{e.Category} {e.EventId} {e.Message} {e.Exception}")));
    }

    [Fact]
    public async Task Headers_beyond_Kestrel_limits_are_refused_by_Kestrel_not_by_an_error()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var ours = await _site.StartOursAsync();
        (string Name, string[] Headers)[] cases =
        [
            ("If-None-Match: 10,000 tags (> 32 KiB)", ["If-None-Match: " + Tags(10_000)]),
            ("101 If-None-Match lines (> 100 header lines)", [.. Enumerable.Repeat("If-None-Match: \"a\"", 101)]),
        ];

        foreach (var (name, headers) in cases)
        {
            var result = (await RawRunner.RunAsync(ours.Port, [new RawRequest(0, "GET", "/small.bin"u8.ToArray(), headers)], 1, s_timeout, cancellationToken))[0];
            Figures.Line($"  {name}: {result.Status}");
            Assert.Equal(431, result.Status);
        }

        Assert.DoesNotContain(ours.Logs.Records, r => r.Level >= LogLevel.Error);
    }
}

/// <summary>
/// Issue 6, case 3 (CPU): the cost of conditional headers with thousands of entity-tags is bounded
/// and linear. Runs alone so that other tests do not disturb the timings.
/// </summary>
[Collection(AdversarialTimingTests.Name)]
public sealed class HeaderCpuTests : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);
    private readonly RangeSite _site = new();

    public void Dispose() => _site.Dispose();

    /// <summary>
    /// Over Kestrel: requests with 5,000 tags (If-None-Match with no match: every tag parsed and
    /// compared; If-Match likewise) each answer in under 1 s — the bound of the brief, about 500 times
    /// the ~2 ms they take here, generous enough for a loaded 2-core CI machine and still finite.
    /// A quadratic algorithm over 5,000 tags (25 million comparisons) would still pass it, which is
    /// what the linearity test below is for.
    /// </summary>
    [Fact]
    public async Task A_request_with_5000_tags_answers_in_well_under_a_second()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var ours = await _site.StartOursAsync();
        await using var connection = await RawExchange.ConnectAsync(ours.Port, s_timeout);
        var plain = new RawRequest(0, "GET", "/small.bin"u8.ToArray(), []);
        var inm = plain with { Headers = ["If-None-Match: " + HeaderAdversarialTests.Tags(5000)] };
        var im = plain with { Headers = ["If-Match: " + HeaderAdversarialTests.Tags(5000)] };

        var times = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        var cpu = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (name, request, status) in new[] { ("plain", plain, 200), ("If-None-Match 5,000", inm, 200), ("If-Match 5,000", im, 412) })
        {
            // Warm up long enough for tiered compilation to finish (it runs on a background
            // thread whose CPU time would otherwise count against the first measured kind).
            var warmUp = Stopwatch.StartNew();
            for (var i = 0; i < 50 || warmUp.Elapsed < TimeSpan.FromMilliseconds(500); i++)
            {
                await connection.ExchangeAsync(request, s_timeout);
            }

            var list = new List<double>();
            var cpuBefore = ProcessCpu.Now();
            for (var i = 0; i < 100; i++)
            {
                var (result, keep) = await connection.ExchangeAsync(request, s_timeout);
                Assert.True(result.Status == status && keep, $"{name}: {result}");
                list.Add(result.Elapsed.TotalMilliseconds);
            }

            cpu[name] = (ProcessCpu.Now() - cpuBefore).TotalMilliseconds / 100;
            times[name] = list;
        }

        foreach (var (name, list) in times)
        {
            Figures.Report($"headers.latency.{name.Replace(' ', '-').Replace(",", string.Empty, StringComparison.Ordinal)}", $"median {Figures.Median(list):F2} ms, max {list.Max():F2} ms (request #{list.IndexOf(list.Max()) + 1} of 100), process CPU {cpu[name]:F2} ms per request (client included)");
        }

        var worst = times.Where(t => t.Key != "plain").Max(t => t.Value.Max());
        Figures.Report("headers.5000-tags.max-latency", $"{worst:F1} ms (bound 1000 ms)");
        Assert.True(worst < 1000, $"a request with 5,000 tags took {worst:F0} ms");
    }

    /// <summary>
    /// <c>Preconditions.Evaluate</c> with 5,000, 50,000 and 500,000 non-matching tags in both
    /// If-Match and If-None-Match: the time per tag (best of 5 after a full GC, so that preemption
    /// does not count) may grow at most 10× from 5,000 to 500,000 tags. A linear parser grows a few
    /// times only (CPU caches and GC generations: the small list fits the caches, the large ones do
    /// not; about 4.5× was measured); a quadratic one would grow 100×.
    /// </summary>
    [Fact]
    public void Evaluating_tag_lists_is_linear_in_their_length()
    {
        var etag = new EntityTagHeaderValue("\"zzzz\"");
        var lastModified = RangeSite.LastModified;
        var perTag = new List<(int Count, double NanosPerTag, double TotalMs)>();
        foreach (var count in new[] { 5_000, 50_000, 500_000 })
        {
            var headers = new HeaderDictionary
            {
                [HeaderNames.IfNoneMatch] = HeaderAdversarialTests.Tags(count),
                [HeaderNames.IfMatch] = HeaderAdversarialTests.Tags(count) + ",\"zzzz\"",
            };
            Assert.Equal(PreconditionResult.Proceed, Preconditions.Evaluate(headers, etag, lastModified, DateTimeOffset.UtcNow));
            var best = double.MaxValue;
            for (var run = 0; run < 5; run++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                var stopwatch = Stopwatch.StartNew();
                var result = Preconditions.Evaluate(headers, etag, lastModified, DateTimeOffset.UtcNow);
                best = Math.Min(best, stopwatch.Elapsed.TotalMilliseconds);
                Assert.Equal(PreconditionResult.Proceed, result);
            }

            perTag.Add((count, best * 1e6 / (2 * count), best));
        }

        Figures.Report("headers.evaluate-cost", $"{string.Join("; ", perTag.Select(p => $"{p.Count} tags in each of If-Match/If-None-Match: {p.TotalMs:F2} ms ({p.NanosPerTag:F0} ns per tag)"))}");
        var growth = perTag[^1].NanosPerTag / perTag[0].NanosPerTag;
        Figures.Report("headers.evaluate-cost-growth", $"{growth:F2}× per tag from 5,000 to 500,000 tags (bound 10×; quadratic would be 100×)");
        Assert.True(growth <= 10, $"cost per tag grew {growth:F1}× from 5,000 to 500,000 tags");
    }
}

/// <summary>CPU time of the whole process with nanosecond resolution (Process.TotalProcessorTime ticks in 10 ms on Linux).</summary>
internal static partial class ProcessCpu
{
    private const int ClockProcessCpuTimeId = 2;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    public static TimeSpan Now()
    {
        if (!OperatingSystem.IsLinux())
        {
            return Process.GetCurrentProcess().TotalProcessorTime;
        }

        if (ClockGetTime(ClockProcessCpuTimeId, out var time) != 0)
        {
            throw new InvalidOperationException("clock_gettime failed");
        }

        return TimeSpan.FromTicks((time.Seconds * 1_000_000_000 + time.Nanoseconds) / 100);
    }
}

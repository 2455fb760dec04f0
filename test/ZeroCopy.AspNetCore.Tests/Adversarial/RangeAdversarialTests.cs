using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using ZeroCopy.AspNetCore.StaticFiles;

namespace ZeroCopy.AspNetCore.Tests.Adversarial;

/// <summary>
/// Issue 6, case 2: hostile Range and If-Range headers over Kestrel with the zero-copy transport.
/// Each case states what its header means; an independent model turns that into the answer:
/// 200 with the whole file, 206 with exactly the selected bytes (one range, or
/// <c>multipart/byteranges</c> with 2..MaxRanges coalesced parts), or 416 with
/// <c>Content-Range: bytes */length</c>. Ours with the default <c>MaxRanges</c> (16) must match the
/// model; ours with <c>MaxRanges = 1</c> must match the model and stock byte for byte.
/// </summary>
public sealed class RangeAdversarialTests : IDisposable
{
    private const int DefaultMaxRanges = 16;
    private readonly RangeSite _site = new();

    public void Dispose() => _site.Dispose();

    /// <summary>One range of a header: <c>first-last</c> (last null: open-ended) or a suffix.</summary>
    private abstract record Item
    {
        public sealed record FromTo(long First, long? Last) : Item;

        public sealed record Suffix(long Count) : Item;
    }

    /// <summary>What a Range header asks for, as the model sees it.</summary>
    private abstract record Want
    {
        /// <summary>The header is ignored (does not parse, or is a list holding one range): the whole file.</summary>
        public sealed record Ignored : Want;

        public sealed record One(Item Item) : Want;

        /// <summary>Several ranges: multipart when MaxRanges allows, else (stock) the whole file.</summary>
        public sealed record Several(Item[] Items) : Want;
    }

    private enum IfRange
    {
        None,
        StrongMatch,
        WeakMatch,
        OtherTag,
        ExactDate,
        EarlierDate,
        LaterDate,
        Rfc850ExactDate,
        Garbage,
        Empty,
        TwoTags,
        TwoMatchingLines,
    }

    private sealed record Case(string Name, string[] RangeLines, Want Want, IfRange IfRange = IfRange.None);

    private static Want.One From(long first, long? last = null) => new(new Item.FromTo(first, last));

    private static Want.Several Several(IEnumerable<Item> items) => new([.. items]);

    private static Case[] Cases()
    {
        static string Many(int count, Func<int, string> item) => "bytes=" + string.Join(',', Enumerable.Range(0, count).Select(item));
        var ignored = new Want.Ignored();
        return
        [
            // Many ranges (coalesced, capped at MaxRanges, whole file when they add up to more than it).
            new("1000 overlapping ranges", [Many(1000, i => $"0-{i}")], Several(Enumerable.Range(0, 1000).Select(i => new Item.FromTo(0, i)))),
            new("1000 identical ranges", [Many(1000, _ => "0-0")], Several(Enumerable.Repeat(new Item.FromTo(0, 0), 1000))),
            new("1000 suffix ranges", [Many(1000, _ => "-1")], Several(Enumerable.Repeat(new Item.Suffix(1), 1000))),
            new("3000 adjacent one-byte ranges", [Many(3000, i => $"{i}-{i}")], Several(Enumerable.Range(0, 3000).Select(i => new Item.FromTo(i, i)))),
            new("1000 disjoint one-byte ranges", [Many(1000, i => $"{2 * i}-{2 * i}")], Several(Enumerable.Range(0, 1000).Select(i => new Item.FromTo(2 * i, 2 * i)))),
            new("16 disjoint ranges", [Many(16, i => $"{2 * i}-{2 * i}")], Several(Enumerable.Range(0, 16).Select(i => new Item.FromTo(2 * i, 2 * i)))),
            new("17 disjoint ranges", [Many(17, i => $"{2 * i}-{2 * i}")], Several(Enumerable.Range(0, 17).Select(i => new Item.FromTo(2 * i, 2 * i)))),
            new("1000 unsatisfiable ranges", [Many(1000, _ => "9223372036854775807-")], Several(Enumerable.Repeat(new Item.FromTo(long.MaxValue, null), 1000))),
            new("two ranges", ["bytes=0-0,2-3"], Several([new Item.FromTo(0, 0), new Item.FromTo(2, 3)])),
            new("two large ranges (zero-copy parts)", ["bytes=0-29999,50000-79999"], Several([new Item.FromTo(0, 29999), new Item.FromTo(50000, 79999)])),
            new("reverse order, adjacent", ["bytes=10-19,0-9"], Several([new Item.FromTo(10, 19), new Item.FromTo(0, 9)])),
            new("suffix and prefix", ["bytes=-500,0-600"], Several([new Item.Suffix(500), new Item.FromTo(0, 600)])),
            new("twice the whole file", ["bytes=0-,0-"], Several([new Item.FromTo(0, null), new Item.FromTo(0, null)])),
            new("satisfiable and not", ["bytes=0-0,99999999-"], Several([new Item.FromTo(0, 0), new Item.FromTo(99_999_999, null)])),
            new("zero suffixes", ["bytes=-0,-0"], Several([new Item.Suffix(0), new Item.Suffix(0)])),
            new("empty list members", ["bytes=0-0,,,,2-3"], Several([new Item.FromTo(0, 0), new Item.FromTo(2, 3)])),
            new("overflow in a list", ["bytes=0-0,99999999999999999999-"], ignored),
            new("two Range lines", ["bytes=0-0", "bytes=1-1"], ignored),
            // Huge and overflowing numbers.
            new("2^63-1 as last", ["bytes=0-9223372036854775807"], From(0, long.MaxValue)),
            new("2^63-1 as first", ["bytes=9223372036854775807-"], From(long.MaxValue)),
            new("2^63-2..2^63-1", ["bytes=9223372036854775806-9223372036854775807"], From(long.MaxValue - 1, long.MaxValue)),
            new("2^63-1 suffix", ["bytes=-9223372036854775807"], new Want.One(new Item.Suffix(long.MaxValue))),
            new("2^63 first", ["bytes=9223372036854775808-"], ignored),
            new("2^63 last", ["bytes=0-9223372036854775808"], ignored),
            new("2^63 suffix", ["bytes=-9223372036854775808"], ignored),
            new("2^64 first", ["bytes=18446744073709551616-"], ignored),
            new("2^64 last", ["bytes=0-18446744073709551616"], ignored),
            new("20 digits last", ["bytes=0-99999999999999999999"], ignored),
            new("20 digits first", ["bytes=99999999999999999999-"], ignored),
            new("20 digits suffix", ["bytes=-99999999999999999999"], ignored),
            new("20-digit zero", ["bytes=00000000000000000000-1"], ignored),
            new("19 digits with leading zeros", ["bytes=0000000000000000001-2"], From(1, 2)),
            new("1000 digits", ["bytes=0-" + new string('9', 1000)], ignored),
            // Negative numbers and malformed forms.
            new("negative first", ["bytes=-1-5"], ignored),
            new("negative last", ["bytes=5--1"], ignored),
            new("double minus", ["bytes=--1"], ignored),
            new("minus only", ["bytes=-"], ignored),
            new("empty set", ["bytes="], ignored),
            new("three numbers", ["bytes=1-2-3"], ignored),
            new("last before first", ["bytes=5-3"], ignored),
            new("trailing comma", ["bytes=0-1,"], ignored),
            new("leading comma", ["bytes=,0-1"], ignored),
            new("letters", ["bytes=a-b"], ignored),
            new("hex", ["bytes=0x10-20"], ignored),
            new("plus sign", ["bytes=+1-2"], ignored),
            new("decimal", ["bytes=1.5-2"], ignored),
            new("no equals", ["bytes 0-1"], ignored),
            new("no unit", ["=0-1"], ignored),
            new("double equals", ["bytes==0-1"], ignored),
            new("trailing garbage", ["bytes=0-1x"], ignored),
            new("semicolon", ["bytes=0-1;"], ignored),
            new("empty value", [""], ignored),
            // Accepted by the parser stock uses: optional whitespace, any unit, any case.
            new("space after =", ["bytes= 0-1"], From(0, 1)),
            new("spaces around -", ["bytes=0 - 1"], From(0, 1)),
            new("tab", ["bytes=\t0-1"], From(0, 1)),
            new("unit upper case", ["BYTES=0-1"], From(0, 1)),
            new("unit mixed case", ["Bytes=0-1"], From(0, 1)),
            // RFC 9110 §14.2 says an unknown unit must be ignored; stock (and so ours) does not check the unit.
            new("other unit", ["items=0-1"], From(0, 1)),
            // Plain single ranges at the edges.
            new("first byte", ["bytes=0-0"], From(0, 0)),
            new("open from 0", ["bytes=0-"], From(0)),
            new("open from 1", ["bytes=1-"], From(1)),
            new("at 999", ["bytes=999-"], From(999)),
            new("at 1000", ["bytes=1000-"], From(1000)),
            new("past the end", ["bytes=999-1000000"], From(999, 1_000_000)),
            new("zero suffix", ["bytes=-0"], new Want.One(new Item.Suffix(0))),
            new("one suffix", ["bytes=-1"], new Want.One(new Item.Suffix(1))),
            new("large suffix", ["bytes=-5000"], new Want.One(new Item.Suffix(5000))),
            // If-Range (RFC 9110 §13.1.5: strong comparison; a date applies when the file is not newer).
            new("If-Range strong ETag", ["bytes=1-1"], From(1, 1), IfRange.StrongMatch),
            new("If-Range weak ETag", ["bytes=1-1"], From(1, 1), IfRange.WeakMatch),
            new("If-Range other ETag", ["bytes=1-1"], From(1, 1), IfRange.OtherTag),
            new("If-Range exact date", ["bytes=1-1"], From(1, 1), IfRange.ExactDate),
            new("If-Range earlier date", ["bytes=1-1"], From(1, 1), IfRange.EarlierDate),
            new("If-Range later date", ["bytes=1-1"], From(1, 1), IfRange.LaterDate),
            new("If-Range RFC 850 date", ["bytes=1-1"], From(1, 1), IfRange.Rfc850ExactDate),
            new("If-Range garbage", ["bytes=1-1"], From(1, 1), IfRange.Garbage),
            new("If-Range empty", ["bytes=1-1"], From(1, 1), IfRange.Empty),
            new("If-Range two tags", ["bytes=1-1"], From(1, 1), IfRange.TwoTags),
            new("If-Range two lines", ["bytes=1-1"], From(1, 1), IfRange.TwoMatchingLines),
            new("If-Range match, unsatisfiable", ["bytes=99999999-"], From(99_999_999), IfRange.StrongMatch),
            new("If-Range mismatch, unsatisfiable", ["bytes=99999999-"], From(99_999_999), IfRange.OtherTag),
            new("If-Range weak, two ranges", ["bytes=0-0,2-3"], Several([new Item.FromTo(0, 0), new Item.FromTo(2, 3)]), IfRange.WeakMatch),
            new("If-Range match, two ranges", ["bytes=0-0,2-3"], Several([new Item.FromTo(0, 0), new Item.FromTo(2, 3)]), IfRange.StrongMatch),
        ];
    }

    /// <summary>The answer the model expects: status, Content-Range and the byte ranges of the body.</summary>
    private sealed record Expected(int Status, string? ContentRange, (long Start, long Count)[] Parts, bool Multipart);

    private static Expected Expect(Case c, long length, int maxRanges)
    {
        var full = new Expected(200, null, [(0, length)], false);
        var unsatisfiable = new Expected(416, "bytes */" + length.ToString(CultureInfo.InvariantCulture), [], false);
        var ifRangeHolds = c.IfRange is not (IfRange.WeakMatch or IfRange.OtherTag or IfRange.EarlierDate);
        // A list of more than ListFactor x MaxRanges elements (commas + 1 per line) is not parsed.
        var listed = c.RangeLines.Sum(line => line.Count(ch => ch == ',') + 1);
        if (c.Want is Want.Ignored || (c.Want is Want.Several && (maxRanges <= 1 || listed > maxRanges * RangeParser.ListFactor)))
        {
            return full;
        }

        // Nothing is selected when If-Range fails; nor is a 416 answered.
        var items = c.Want switch
        {
            Want.One one => [one.Item],
            Want.Several several => several.Items,
            _ => throw new InvalidOperationException(),
        };
        var satisfiable = items.Select(item => Clamp(item, length)).Where(r => r is not null).Select(r => r!.Value).ToList();
        (long Start, long Count)[] parts;
        if (!ifRangeHolds)
        {
            return full;
        }

        if (satisfiable.Count == 0)
        {
            return unsatisfiable;
        }

        if (c.Want is Want.One)
        {
            parts = [satisfiable[0]];
        }
        else
        {
            // Amplification guard first (on the requested bytes), then sort, coalesce overlapping and adjacent, cap.
            var requested = 0L;
            foreach (var r in satisfiable)
            {
                requested += r.Count;
                if (requested > length)
                {
                    return full;
                }
            }

            var merged = new List<(long Start, long Count)>();
            foreach (var r in satisfiable.OrderBy(r => r.Start))
            {
                if (merged.Count > 0 && r.Start <= merged[^1].Start + merged[^1].Count)
                {
                    var last = Math.Max(merged[^1].Start + merged[^1].Count, r.Start + r.Count);
                    merged[^1] = (merged[^1].Start, last - merged[^1].Start);
                }
                else
                {
                    merged.Add(r);
                }
            }

            if (merged.Count > maxRanges)
            {
                return full;
            }

            parts = [.. merged];
        }

        return parts.Length == 1
            ? new Expected(206, string.Create(CultureInfo.InvariantCulture, $"bytes {parts[0].Start}-{parts[0].Start + parts[0].Count - 1}/{length}"), parts, false)
            : new Expected(206, null, parts, true);
    }

    /// <summary>One range clamped to a file of <paramref name="length"/> bytes; null when none of it exists.</summary>
    private static (long Start, long Count)? Clamp(Item item, long length)
    {
        switch (item)
        {
            case Item.FromTo(var first, var last):
                if (length == 0 || first >= length)
                {
                    return null;
                }

                return (first, (last is { } l && l < length ? l : length - 1) - first + 1);
            case Item.Suffix(var n):
                if (length == 0 || n == 0)
                {
                    return null;
                }

                return (length - Math.Min(n, length), Math.Min(n, length));
            default:
                throw new InvalidOperationException();
        }
    }

    private static IEnumerable<string> IfRangeLines(IfRange value, string etag, DateTimeOffset lastModified) => value switch
    {
        IfRange.None => [],
        IfRange.StrongMatch => [etag],
        IfRange.WeakMatch => ["W/" + etag],
        IfRange.OtherTag => ["\"0000deadbeef\""],
        IfRange.ExactDate => [RangeSite.HttpDate(lastModified)],
        IfRange.EarlierDate => [RangeSite.HttpDate(lastModified.AddHours(-1))],
        IfRange.LaterDate => [RangeSite.HttpDate(lastModified.AddHours(1))],
        IfRange.Rfc850ExactDate => [lastModified.UtcDateTime.ToString("dddd, dd'-'MMM'-'yy HH':'mm':'ss 'GMT'", CultureInfo.InvariantCulture)],
        IfRange.Garbage => ["garbage"],
        IfRange.Empty => [string.Empty],
        // Not one validator: the header does not parse and is ignored.
        IfRange.TwoTags => ["\"0000deadbeef\", " + etag],
        IfRange.TwoMatchingLines => [etag, etag],
        _ => throw new ArgumentOutOfRangeException(nameof(value)),
    };

    [Fact]
    public async Task Hostile_ranges_get_200_206_or_416_with_exact_bytes()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var ours = await _site.StartOursAsync();
        await using var oursStock = await _site.StartOursAsync(options: o => o.MaxRanges = 1);
        await using var stock = await _site.StartStockAsync();

        // Validators as served (both compute the same ETag from length and time).
        var etags = new Dictionary<string, string>(StringComparer.Ordinal);
        var heads = RangeSite.Files.Select((f, i) => new RawRequest(i, "HEAD", Encoding.ASCII.GetBytes("/" + f.Name), [])).ToList();
        foreach (var head in await RawRunner.RunAsync(ours.Port, heads, 1, TimeSpan.FromSeconds(10), cancellationToken))
        {
            Assert.Equal(200, head.Status);
            Assert.Equal(RangeSite.HttpDate(RangeSite.LastModified), head.Header("Last-Modified"));
            etags[Encoding.ASCII.GetString(head.Request.Target)[1..]] = head.Header("ETag")!;
        }

        var requests = new List<RawRequest>();
        var meta = new List<(Case Case, string File)>();
        foreach (var c in Cases())
        {
            foreach (var (name, _) in RangeSite.Files)
            {
                var headers = c.RangeLines.Select(r => "Range: " + r)
                    .Concat(IfRangeLines(c.IfRange, etags[name], RangeSite.LastModified).Select(v => "If-Range: " + v))
                    .ToList();
                requests.Add(new RawRequest(requests.Count, "GET", Encoding.ASCII.GetBytes("/" + name), headers));
                meta.Add((c, name));
            }
        }

        var timeout = TimeSpan.FromSeconds(10);
        var oursResults = await RawRunner.RunAsync(ours.Port, requests, 2, timeout, cancellationToken);
        var oursStockResults = await RawRunner.RunAsync(oursStock.Port, requests, 2, timeout, cancellationToken);
        var stockResults = await RawRunner.RunAsync(stock.Port, requests, 2, timeout, cancellationToken);

        var failures = new List<string>();
        var multipart = 0;
        for (var i = 0; i < requests.Count; i++)
        {
            var (c, file) = meta[i];
            var content = _site.Content[file];
            var what = $"{c.Name} on {file} ({content.Length} bytes)";
            foreach (var (label, got, maxRanges) in new[] { ("ours", oursResults[i], DefaultMaxRanges), ("ours (MaxRanges 1)", oursStockResults[i], 1) })
            {
                var expected = Expect(c, content.Length, maxRanges);
                multipart += expected.Multipart && label == "ours" ? 1 : 0;
                if (await CheckAsync(got, expected, content) is { } problem)
                {
                    failures.Add($"{what}, {label}: expected {expected.Status} {expected.ContentRange} {string.Join(",", expected.Parts.Select(p => $"{p.Start}+{p.Count}"))}; {problem}");
                }
            }

            var s = stockResults[i];
            var o = oursStockResults[i];
            if (s.Status != o.Status || s.Header("Content-Range") != o.Header("Content-Range") || !s.Body.AsSpan().SequenceEqual(o.Body))
            {
                failures.Add($"{what}: stock answers {s.Status} {s.Header("Content-Range")} {s.Body.Length} bytes, ours with MaxRanges 1 {o.Status} {o.Header("Content-Range")} {o.Body.Length} bytes");
            }
        }

        var errors = ours.Logs.Records.Concat(oursStock.Logs.Records).Where(r => r.Level >= LogLevel.Error).ToList();
        var byStatus = oursResults.GroupBy(r => r.Status).OrderBy(g => g.Key).Select(g => $"{g.Count()}×{g.Key}");
        Figures.Report("ranges.requests", $"{requests.Count} ({Cases().Length} cases × {RangeSite.Files.Length} files) to ours (MaxRanges 16: {string.Join(", ", byStatus)}, {multipart} multipart), to ours with MaxRanges 1 and to stock; {failures.Count} wrong answers or differences from stock");
        Figures.Report("ranges.server-errors.ours", $"{oursResults.Concat(oursStockResults).Count(r => r.Status >= 500 || r.Status == 0)} 5xx or missing, {errors.Count} Error-level logs");
        Figures.Report("ranges.slowest.ours", $"{oursResults.Concat(oursStockResults).Max(r => r.Elapsed).TotalMilliseconds:F0} ms");

        Assert.True(failures.Count == 0, string.Join('\n', failures.Take(60)));
        Assert.True(errors.Count == 0, string.Join('\n', errors.Select(e => $"{e.Category} {e.EventId} {e.Message} {e.Exception}")));
    }

    /// <summary>Null when the response is the expected one, else what is wrong.</summary>
    private static async Task<string?> CheckAsync(RawResult got, Expected expected, byte[] content)
    {
        if (got.Status != expected.Status || !got.BodyComplete)
        {
            return $"got {got}";
        }

        if (!expected.Multipart)
        {
            if (got.Header("Content-Range") != expected.ContentRange)
            {
                return $"got Content-Range {got.Header("Content-Range")}";
            }

            var (start, count) = expected.Parts.Length == 0 ? (0L, 0L) : expected.Parts[0];
            return got.Body.AsSpan().SequenceEqual(content.AsSpan((int)start, (int)count)) ? null : $"got {got.Body.Length} other bytes";
        }

        var contentType = got.Header("Content-Type") ?? string.Empty;
        const string Prefix = "multipart/byteranges; boundary=";
        if (!contentType.StartsWith(Prefix, StringComparison.Ordinal) || got.Header("Content-Range") is not null)
        {
            return $"got Content-Type {contentType}, Content-Range {got.Header("Content-Range")}";
        }

        var parts = await ReadPartsAsync(got.Body, contentType[Prefix.Length..]);
        if (parts.Count != expected.Parts.Length)
        {
            return $"got {parts.Count} parts";
        }

        for (var p = 0; p < parts.Count; p++)
        {
            var (start, count) = expected.Parts[p];
            var range = string.Create(CultureInfo.InvariantCulture, $"bytes {start}-{start + count - 1}/{content.Length}");
            if (parts[p].ContentRange != range || parts[p].ContentType != "application/octet-stream"
                || !parts[p].Body.AsSpan().SequenceEqual(content.AsSpan((int)start, (int)count)))
            {
                return $"part {p}: {parts[p].ContentRange} {parts[p].ContentType} {parts[p].Body.Length} bytes";
            }
        }

        return null;
    }

    private static async Task<List<(string ContentRange, string? ContentType, byte[] Body)>> ReadPartsAsync(byte[] body, string boundary)
    {
        var reader = new MultipartReader(boundary, new MemoryStream(body));
        var parts = new List<(string, string?, byte[])>();
        while (await reader.ReadNextSectionAsync() is { } section)
        {
            using var copy = new MemoryStream();
            await section.Body.CopyToAsync(copy);
            parts.Add((section.Headers!["Content-Range"].ToString(), section.ContentType, copy.ToArray()));
        }

        return parts;
    }
}

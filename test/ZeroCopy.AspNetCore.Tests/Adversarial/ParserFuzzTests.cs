using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using System.Text;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using ZeroCopy.AspNetCore.Native;
using ZeroCopy.AspNetCore.StaticFiles;
using ZeroCopy.AspNetCore.Files;

namespace ZeroCopy.AspNetCore.Tests.Adversarial;

/// <summary>
/// Issue 6, case 7: seeded random inputs (fixed seeds, so every failure reproduces) for the Range
/// parser, the conditional evaluation and the path mapping, each checked against invariants and,
/// where the input is well-formed by construction, against an independent model.
/// </summary>
public sealed class ParserFuzzTests
{
    private const int Inputs = 100_000;
    private static readonly DateTimeOffset s_base = new(2024, 5, 6, 7, 8, 9, TimeSpan.Zero);

    // ---------------------------------------------------------------- Range

    /// <summary>What a generated Range header means, by construction; null when it is noise.</summary>
    private abstract record RangeMeaning
    {
        public sealed record Ignored : RangeMeaning;

        public sealed record FromTo(long First, long? Last) : RangeMeaning;

        public sealed record Suffix(long Count) : RangeMeaning;

        /// <summary>Several ranges (each a FromTo or Suffix).</summary>
        public sealed record Several(RangeMeaning[] Items) : RangeMeaning;
    }

    private static readonly int[] s_maxRanges = [1, 2, 16, 100];

    private static readonly string[] s_ifRangeKinds = ["none", "match", "weak", "other", "exact", "earlier", "later", "garbage"];

    [Fact]
    public void RangeParser_Select_keeps_every_range_inside_the_file()
    {
        var random = new Random(7);
        var etag = new EntityTagHeaderValue("\"5f3a\"");
        var lastModified = s_base;
        var (covered, singles, multiple, unsatisfiable, full) = (0, 0, 0, 0, 0);
        var failures = new List<string>();
        var stopwatch = Stopwatch.StartNew();
        for (var i = 0; i < Inputs; i++)
        {
            var length = RandomLength(random);
            var maxRanges = s_maxRanges[random.Next(s_maxRanges.Length)];
            var (text, meaning) = RandomRange(random, length);
            var ifRange = s_ifRangeKinds[random.Next(s_ifRangeKinds.Length)];
            IHeaderDictionary headers = new HeaderDictionary();
            if (random.Next(20) == 0 && text is not null)
            {
                headers.Range = new StringValues([text, text]);
                meaning = new RangeMeaning.Ignored();
            }
            else if (text is not null)
            {
                headers.Range = text;
            }

            var ifRangeHolds = true;
            switch (ifRange)
            {
                case "match": headers.IfRange = etag.ToString(); break;
                case "weak": headers.IfRange = "W/" + etag; ifRangeHolds = false; break;
                case "other": headers.IfRange = "\"other\""; ifRangeHolds = false; break;
                case "exact": headers.IfRange = RangeSite.HttpDate(lastModified); break;
                case "earlier": headers.IfRange = RangeSite.HttpDate(lastModified.AddSeconds(-1)); ifRangeHolds = false; break;
                case "later": headers.IfRange = RangeSite.HttpDate(lastModified.AddSeconds(1)); break;
                case "garbage": headers.IfRange = "garbage"; break;
            }

            RangeSelection selection;
            try
            {
                selection = RangeParser.Select(headers, length, lastModified, etag, maxRanges);
            }
            catch (Exception ex)
            {
                failures.Add($"#{i} Range '{text}' If-Range {ifRange} length {length}: {ex.GetType().Name}: {ex.Message}");
                continue;
            }

            var where = $"#{i} Range '{Show(headers.Range.ToString())}' If-Range {ifRange} MaxRanges {maxRanges} on {length} bytes -> {Describe(selection)}";
            switch (selection.Kind)
            {
                case RangeKind.Full:
                    full++;
                    break;
                case RangeKind.Single:
                    singles++;
                    if (selection.Start < 0 || selection.Length < 1 || selection.Start > length - selection.Length)
                    {
                        failures.Add(where + ": outside the file");
                    }

                    break;
                case RangeKind.Multiple:
                    multiple++;
                    // 2..MaxRanges parts, each inside the file, ordered, neither overlapping nor adjacent, adding up to at most the file.
                    var parts = selection.Parts ?? [];
                    var ordered = parts.Zip(parts.Skip(1)).All(pair => pair.Second.Start > pair.First.Last + 1);
                    if (parts.Length < 2 || parts.Length > maxRanges || !ordered
                        || parts.Any(p => p.Start < 0 || p.Length < 1 || p.Start > length - p.Length)
                        || parts.Sum(p => (decimal)p.Length) > length)
                    {
                        failures.Add(where + ": parts break the invariants");
                    }

                    break;
                case RangeKind.Unsatisfiable:
                    unsatisfiable++;
                    // 416 only when no byte of any requested range exists (per the parser stock uses).
                    if (!RangeHeaderValue.TryParse(headers.Range.ToString(), out var parsed)
                        || (length > 0 && parsed.Ranges.Any(r => r.From is { } f ? f < length : r.To is > 0)))
                    {
                        failures.Add(where + ": 416 although part of a range exists");
                    }

                    break;
                default:
                    failures.Add(where + ": not one of the three outcomes");
                    break;
            }

            if (meaning is not null)
            {
                covered++;
                var expected = ifRangeHolds ? Model(meaning, length, maxRanges, ListedElements(headers.Range)) : RangeSelection.Full;
                if (!Same(expected, selection))
                {
                    failures.Add($"{where}: the model expects {Describe(expected)}");
                }
            }

            if (failures.Count > 50)
            {
                break;
            }
        }

        Figures.Report("fuzz.range-select", $"{Inputs} inputs (seed 7) in {stopwatch.Elapsed.TotalSeconds:F2} s: {singles} single, {multiple} multipart, {unsatisfiable} unsatisfiable, {full} full; {covered} checked against the model; {failures.Count} failures");
        Assert.True(failures.Count == 0, string.Join('\n', failures.Take(50)));
    }

    /// <summary>Elements of the Range list as the README counts them: commas + 1 per header line, empty ones included.</summary>
    private static int ListedElements(Microsoft.Extensions.Primitives.StringValues values)
        => values.Sum(v => (v ?? string.Empty).Count(c => c == ',') + 1);

    [Fact]
    public void RangeParser_Normalize_keeps_every_range_inside_the_file()
    {
        var random = new Random(8);
        var failures = new List<string>();
        var stopwatch = Stopwatch.StartNew();
        for (var i = 0; i < Inputs; i++)
        {
            // Normalize is only called for a non-empty file (Select answers 416 for an empty one).
            var length = Math.Max(1, RandomLength(random));
            var a = RandomNumber(random, length);
            var b = RandomNumber(random, length);
            RangeItemHeaderValue item;
            RangeMeaning meaning;
            switch (random.Next(3))
            {
                case 0:
                    (a, b) = (Math.Min(a, b), Math.Max(a, b));
                    item = new RangeItemHeaderValue(a, b);
                    meaning = new RangeMeaning.FromTo(a, b);
                    break;
                case 1:
                    item = new RangeItemHeaderValue(a, null);
                    meaning = new RangeMeaning.FromTo(a, null);
                    break;
                default:
                    item = new RangeItemHeaderValue(null, a);
                    meaning = new RangeMeaning.Suffix(a);
                    break;
            }

            try
            {
                var selection = RangeParser.Normalize(item, length);
                var expected = Model(meaning, length, 1);
                if (selection != expected
                    || (selection.Kind == RangeKind.Single && (selection.Start < 0 || selection.Length < 1 || selection.Start > length - selection.Length)))
                {
                    failures.Add($"#{i} {item} on {length} bytes -> {selection}, model {expected}");
                }
            }
            catch (Exception ex)
            {
                failures.Add($"#{i} {item} on {length} bytes: {ex.GetType().Name}: {ex.Message}");
            }

            if (failures.Count > 50)
            {
                break;
            }
        }

        Figures.Report("fuzz.range-normalize", $"{Inputs} inputs (seed 8) in {stopwatch.Elapsed.TotalSeconds:F2} s; {failures.Count} failures");
        Assert.True(failures.Count == 0, string.Join('\n', failures.Take(50)));
    }

    /// <summary>
    /// The model, from what the Range header means: one range as stock (RFC 9110 §14.1.2); several as
    /// the README documents: unsatisfiable ones dropped (416 when none is left), the whole file when
    /// the requested bytes add up to more than the file, else ordered and coalesced (overlapping or
    /// adjacent), the whole file when more than MaxRanges remain; a list of more than
    /// <see cref="RangeParser.ListFactor"/> × MaxRanges elements is not looked at (the whole file).
    /// Arithmetic in decimal: no overflow.
    /// </summary>
    private static RangeSelection Model(RangeMeaning meaning, long length, int maxRanges, int listed = 1)
    {
        switch (meaning)
        {
            case RangeMeaning.Ignored:
                return RangeSelection.Full;
            case RangeMeaning.Several(var items):
                if (maxRanges <= 1 || listed > maxRanges * RangeParser.ListFactor)
                {
                    return RangeSelection.Full;
                }

                var selected = items.Select(item => Model(item, length, 1)).Where(r => r.Kind == RangeKind.Single).ToList();
                if (selected.Count == 0)
                {
                    return RangeSelection.Unsatisfiable;
                }

                if (selected.Sum(r => (decimal)r.Length) > length)
                {
                    return RangeSelection.Full;
                }

                var merged = new List<ByteRange>();
                foreach (var r in selected.OrderBy(r => r.Start))
                {
                    if (merged.Count > 0 && r.Start <= (decimal)merged[^1].Last + 1)
                    {
                        merged[^1] = new ByteRange(merged[^1].Start, Math.Max(merged[^1].Last, r.Start + r.Length - 1) - merged[^1].Start + 1);
                    }
                    else
                    {
                        merged.Add(new ByteRange(r.Start, r.Length));
                    }
                }

                return merged.Count > maxRanges ? RangeSelection.Full
                    : merged.Count == 1 ? new RangeSelection(RangeKind.Single, merged[0].Start, merged[0].Length)
                    : new RangeSelection(RangeKind.Multiple, 0, 0, [.. merged]);
            case RangeMeaning.FromTo(var first, var last):
                if (length == 0 || first >= length)
                {
                    return RangeSelection.Unsatisfiable;
                }

                var end = last is { } l && l < length ? l : length - 1;
                return new RangeSelection(RangeKind.Single, first, end - first + 1);
            case RangeMeaning.Suffix(var count):
                if (length == 0 || count == 0)
                {
                    return RangeSelection.Unsatisfiable;
                }

                var n = Math.Min(count, length);
                return new RangeSelection(RangeKind.Single, length - n, n);
            default:
                throw new InvalidOperationException();
        }
    }

    private static bool Same(RangeSelection a, RangeSelection b)
        => a.Kind == b.Kind && a.Start == b.Start && a.Length == b.Length && (a.Parts ?? []).SequenceEqual(b.Parts ?? []);

    private static string Describe(RangeSelection s)
        => s.Kind == RangeKind.Multiple ? $"Multiple [{string.Join(", ", (s.Parts ?? []).Select(p => $"{p.Start}+{p.Length}"))}]" : s.ToString();

    private static long RandomLength(Random random) => random.Next(10) switch
    {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => random.Next(1, 100),
        4 => random.Next(1, 100_000),
        5 => random.NextInt64(1, 1L << 40),
        6 => long.MaxValue,
        7 => long.MaxValue - 1,
        8 => 1000,
        _ => random.NextInt64(1, long.MaxValue),
    };

    /// <summary>A non-negative number near the interesting places of a file of <paramref name="length"/> bytes.</summary>
    private static long RandomNumber(Random random, long length) => random.Next(10) switch
    {
        0 => 0,
        1 => 1,
        2 => Math.Max(0, length - 1),
        3 => length,
        4 => length == long.MaxValue ? length : length + 1,
        5 => long.MaxValue,
        6 => long.MaxValue - 1,
        7 => random.NextInt64(0, Math.Max(1, length)),
        8 => random.Next(0, 10_000),
        _ => random.NextInt64(0, long.MaxValue),
    };

    /// <summary>A Range header (null: none) and what it means (null: noise, checked by invariants only).</summary>
    private static (string? Text, RangeMeaning? Meaning) RandomRange(Random random, long length)
    {
        string Unit() => random.Next(8) switch { 0 => "BYTES", 1 => "Bytes", _ => "bytes" };
        string Ows() => random.Next(6) switch { 0 => " ", 1 => "\t", _ => string.Empty };
        var a = RandomNumber(random, length);
        var b = RandomNumber(random, length);
        switch (random.Next(13))
        {
            case 0:
                return (null, new RangeMeaning.Ignored());
            case 1 or 2:
                (a, b) = (Math.Min(a, b), Math.Max(a, b));
                return ($"{Unit()}={Ows()}{a}{Ows()}-{Ows()}{b}{Ows()}", new RangeMeaning.FromTo(a, b));
            case 3:
                return ($"{Unit()}={Ows()}{a}-", new RangeMeaning.FromTo(a, null));
            case 4:
                return ($"{Unit()}=-{a}", new RangeMeaning.Suffix(a));
            case 5 or 6:
                // Several ranges: multipart, coalesced, or the whole file (see the model).
                var count = random.Next(2, random.Next(2) == 0 ? 5 : 40);
                var items = new List<(string Text, RangeMeaning Meaning)>();
                for (var k = 0; k < count; k++)
                {
                    var first = random.Next(2) == 0 ? random.NextInt64(0, Math.Max(1, Math.Min(length, 64))) : RandomNumber(random, length);
                    var last = first + (random.Next(3) == 0 ? RandomNumber(random, length) % 1000 : random.Next(0, 8));
                    last = last < first ? long.MaxValue : last;
                    items.Add(random.Next(6) switch
                    {
                        0 => ($"{first}-", new RangeMeaning.FromTo(first, null)),
                        1 => ($"-{first % 100}", new RangeMeaning.Suffix(first % 100)),
                        _ => ($"{first}-{last}", new RangeMeaning.FromTo(first, last)),
                    });
                }

                var separator = random.Next(4) switch { 0 => ", ", 1 => ",,", _ => "," };
                return ($"bytes={string.Join(separator, items.Select(x => x.Text))}", new RangeMeaning.Several([.. items.Select(x => x.Meaning)]));
            case 11:
                // Numbers beyond Int64: the header does not parse and is ignored.
                var huge = "9223372036854775808" + new string('9', random.Next(0, 5));
                return (random.Next(3) switch { 0 => $"bytes={huge}-", 1 => $"bytes=0-{huge}", _ => $"bytes=-{huge}" }, new RangeMeaning.Ignored());
            case 7:
                // Last before first: invalid, ignored.
                return a == b ? ($"bytes={a}-{b}", new RangeMeaning.FromTo(a, b)) : ($"bytes={Math.Max(a, b)}-{Math.Min(a, b)}", new RangeMeaning.Ignored());
            default:
                // Noise from the characters of the grammar.
                const string Alphabet = "bytes=-,0123456789 \t;xX+.";
                var sb = new StringBuilder(random.Next(2) == 0 ? "bytes=" : string.Empty);
                var noise = random.Next(0, 30);
                for (var i = 0; i < noise; i++)
                {
                    sb.Append(Alphabet[random.Next(Alphabet.Length)]);
                }

                return (sb.ToString(), null);
        }
    }

    private static string Show(string text) => text.Length > 80 ? text[..80] + "..." : text;

    // ---------------------------------------------------------------- Preconditions

    private enum Tag
    {
        StrongMatch,
        WeakMatch,
        StrongOther,
        WeakOther,
        Star,
    }

    /// <summary>A generated conditional header: its lines, and what it means (null: noise).</summary>
    private sealed record Conditional(StringValues Lines, Tag[]? Tags = null, DateTimeOffset? Date = null, bool Meaningful = true);

    [Fact]
    public void Preconditions_Evaluate_agrees_with_an_RFC_9110_model()
    {
        var random = new Random(11);
        var failures = new List<string>();
        var counts = new Dictionary<PreconditionResult, int>();
        var covered = 0;
        var stopwatch = Stopwatch.StartNew();
        for (var i = 0; i < Inputs; i++)
        {
            var weakFile = random.Next(10) == 0;
            var opaque = "\"v" + random.Next(3) + "\"";
            var etag = EntityTagHeaderValue.Parse(weakFile ? "W/" + opaque : opaque);
            var lastModified = s_base.AddSeconds(random.Next(-100_000, 100_000));
            var now = lastModified.AddSeconds(random.Next(8) switch { 0 => -3600, 1 => 0, 2 => 1, _ => random.Next(0, 30 * 86400) }).AddMilliseconds(random.Next(1000));

            var ifMatch = RandomTags(random, opaque);
            var ifNoneMatch = RandomTags(random, opaque);
            var ifModifiedSince = RandomDate(random, lastModified, now);
            var ifUnmodifiedSince = RandomDate(random, lastModified, now);
            IHeaderDictionary headers = new HeaderDictionary();
            Set(headers, HeaderNames.IfMatch, ifMatch);
            Set(headers, HeaderNames.IfNoneMatch, ifNoneMatch);
            Set(headers, HeaderNames.IfModifiedSince, ifModifiedSince);
            Set(headers, HeaderNames.IfUnmodifiedSince, ifUnmodifiedSince);

            PreconditionResult result;
            try
            {
                result = Preconditions.Evaluate(headers, etag, lastModified, now);
            }
            catch (Exception ex)
            {
                failures.Add($"#{i} {Describe(headers)}: {ex.GetType().Name}: {ex.Message}");
                continue;
            }

            counts[result] = counts.GetValueOrDefault(result) + 1;
            if (!Enum.IsDefined(result))
            {
                failures.Add($"#{i} {Describe(headers)}: {result} is not one of the three outcomes");
            }

            if (new[] { ifMatch, ifNoneMatch, ifModifiedSince, ifUnmodifiedSince }.All(c => c is null || c.Meaningful))
            {
                covered++;
                var expected = ModelPreconditions(ifMatch, ifNoneMatch, ifModifiedSince, ifUnmodifiedSince, weakFile, lastModified, now);
                if (expected != result)
                {
                    failures.Add($"#{i} ETag {etag}, Last-Modified {lastModified:o}, now {now:o}, {Describe(headers)}: {result}, the model expects {expected}");
                }
            }

            if (failures.Count > 50)
            {
                break;
            }
        }

        Figures.Report("fuzz.preconditions", $"{Inputs} inputs (seed 11) in {stopwatch.Elapsed.TotalSeconds:F2} s: {string.Join(", ", counts.OrderBy(c => c.Key).Select(c => $"{c.Key} {c.Value}"))}; {covered} checked against the model; {failures.Count} failures");
        Assert.True(failures.Count == 0, string.Join('\n', failures.Take(50)));
        Assert.True(covered > Inputs / 2, $"only {covered} inputs were covered by the model");
    }

    /// <summary>RFC 9110 §13.2.2 as the README documents it, from what each header means.</summary>
    private static PreconditionResult ModelPreconditions(Conditional? ifMatch, Conditional? ifNoneMatch, Conditional? ims, Conditional? ius, bool weakFile, DateTimeOffset lastModified, DateTimeOffset now)
    {
        static bool Valid(Conditional? date, DateTimeOffset now) => date?.Date is { } d && d <= now;

        if (ifMatch?.Tags is { } matchTags)
        {
            // Strong comparison: both tags strong and equal; "*" matches any existing file.
            if (!matchTags.Any(t => t == Tag.Star || (t == Tag.StrongMatch && !weakFile)))
            {
                return PreconditionResult.PreconditionFailed;
            }
        }
        else if (Valid(ius, now) && lastModified > ius!.Date)
        {
            return PreconditionResult.PreconditionFailed;
        }

        if (ifNoneMatch?.Tags is { } noneMatchTags)
        {
            // Weak comparison: equal opaque tags, W/ or not.
            if (noneMatchTags.Any(t => t is Tag.Star or Tag.StrongMatch or Tag.WeakMatch))
            {
                return PreconditionResult.NotModified;
            }
        }
        else if (Valid(ims, now) && lastModified <= ims!.Date)
        {
            return PreconditionResult.NotModified;
        }

        return PreconditionResult.Proceed;
    }

    private static Conditional? RandomTags(Random random, string opaque)
    {
        switch (random.Next(10))
        {
            case < 5:
                return null;
            case 5:
                // Noise: checked by the invariants only.
                return new Conditional(random.Next(4) switch { 0 => "garbage", 1 => "\"unterminated", 2 => "W/", _ => "\"a\" \"b\"" }, Meaningful: false);
            default:
                var tags = Enumerable.Range(0, random.Next(1, 6)).Select(_ => (Tag)random.Next(5)).ToArray();
                var texts = tags.Select(t => t switch
                {
                    Tag.StrongMatch => opaque,
                    Tag.WeakMatch => "W/" + opaque,
                    Tag.StrongOther => "\"other\"",
                    Tag.WeakOther => "W/\"other\"",
                    _ => "*",
                }).ToArray();
                // One line, or one line per tag (a client may repeat the header).
                return new Conditional(random.Next(3) == 0 ? new StringValues(texts) : string.Join(random.Next(2) == 0 ? ", " : ",", texts), tags);
        }
    }

    private static Conditional? RandomDate(Random random, DateTimeOffset lastModified, DateTimeOffset now)
    {
        if (random.Next(2) == 0)
        {
            return null;
        }

        var date = random.Next(7) switch
        {
            0 => lastModified,
            1 => lastModified.AddSeconds(-1),
            2 => lastModified.AddSeconds(1),
            3 => lastModified.AddDays(-random.Next(1, 1000)),
            4 => lastModified.AddDays(random.Next(1, 1000)),
            5 => new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, now.Second, TimeSpan.Zero),
            _ => new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, now.Second, TimeSpan.Zero).AddSeconds(1),
        };
        var utc = date.UtcDateTime;
        var text = random.Next(4) switch
        {
            0 => utc.ToString("dddd, dd'-'MMM'-'yy HH':'mm':'ss 'GMT'", CultureInfo.InvariantCulture),
            1 => string.Create(CultureInfo.InvariantCulture, $"{utc:ddd} {utc:MMM} {utc.Day,2} {utc:HH':'mm':'ss} {utc:yyyy}"),
            _ => date.ToString("r", CultureInfo.InvariantCulture),
        };
        return random.Next(12) switch
        {
            // Two lines are joined with a comma: not a date, ignored.
            0 => new Conditional(new StringValues([text, text]), Date: null),
            1 => new Conditional("not a date", Date: null),
            2 => new Conditional(text.Replace("GMT", "XYZ", StringComparison.Ordinal), Meaningful: false),
            // RFC 850's two-digit years are read as 19xx/20xx; keep those inside this century.
            _ when utc.Year is < 1950 or > 2049 && text.Contains('-', StringComparison.Ordinal) => new Conditional(text, Meaningful: false),
            _ => new Conditional(text, Date: date),
        };
    }

    private static void Set(IHeaderDictionary headers, string name, Conditional? conditional)
    {
        if (conditional is not null)
        {
            headers[name] = conditional.Lines;
        }
    }

    private static string Describe(IHeaderDictionary headers)
        => string.Join("; ", headers.Select(h => $"{h.Key}: {string.Join(" | ", h.Value.Select(v => Show(v ?? string.Empty)))}"));

    // ---------------------------------------------------------------- Paths

    /// <summary>
    /// Random request paths → <c>PhysicalFileProvider.GetFileInfo</c> → <c>RootDirectory.Open</c>:
    /// no exception, every descriptor that opens is a regular file whose kernel path
    /// (<c>/proc/self/fd</c>) lies under the root, and the outcome is the one an independent
    /// classification (realpath(3) and the tree's list of special files) predicts.
    /// </summary>
    [Fact]
    [SupportedOSPlatform("linux")]
    public void Path_mapping_opens_only_regular_files_under_the_root()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Linux only: RootDirectory.");

        using var tree = new AdversarialTree();
        using var provider = new PhysicalFileProvider(tree.Root);
        using var root = new RootDirectory(tree.Root);
        var random = new Random(13);
        var segments = PathSegments(tree);
        var failures = new List<string>();
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        var classes = new Dictionary<string, PathClass>(StringComparer.Ordinal);
        var stopwatch = Stopwatch.StartNew();
        for (var i = 0; i < Inputs; i++)
        {
            var path = RandomPath(random, segments);
            string outcomeName;
            try
            {
                var info = provider.GetFileInfo(path);
                if (!info.Exists || info.PhysicalPath is not { } physical)
                {
                    outcomeName = "provider: not found";
                }
                else
                {
                    var outcome = root.Open(physical, out var handle, out var status);
                    outcomeName = outcome.ToString();
                    using (handle)
                    {
                        if (outcome == OpenOutcome.Opened)
                        {
                            var fd = handle!.DangerousGetHandle().ToInt32();
                            var where = new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
                            if (where is null || !tree.IsUnderRoot(where) || status.Kind != FileKind.Regular)
                            {
                                failures.Add($"#{i} '{Show(path)}' opened {where} ({status.Kind})");
                            }
                        }
                        else if (handle is not null)
                        {
                            failures.Add($"#{i} '{Show(path)}': {outcome} with a descriptor");
                        }
                    }

                    if (!classes.TryGetValue(path, out var pathClass))
                    {
                        classes[path] = pathClass = tree.Classify(path);
                    }

                    var expected = pathClass.Cause switch
                    {
                        PathCause.RegularFile or PathCause.SymlinkInsideRoot => OpenOutcome.Opened,
                        PathCause.EscapingSymlink => OpenOutcome.OutsideRoot,
                        PathCause.SpecialFile => OpenOutcome.NotRegularFile,
                        _ => OpenOutcome.NotFound,
                    };
                    if (outcome != expected)
                    {
                        failures.Add($"#{i} '{Show(path)}' ({physical}): {outcome}, expected {expected} ({pathClass})");
                    }
                }
            }
            catch (Exception ex)
            {
                outcomeName = "exception";
                failures.Add($"#{i} '{Show(path)}': {ex.GetType().Name}: {ex.Message}");
            }

            outcomes[outcomeName] = outcomes.GetValueOrDefault(outcomeName) + 1;
            if (failures.Count > 50)
            {
                break;
            }
        }

        Figures.Report("fuzz.paths", $"{Inputs} paths (seed 13) in {stopwatch.Elapsed.TotalSeconds:F2} s: {string.Join(", ", outcomes.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key} {o.Value}"))}; {failures.Count} failures");
        Assert.True(failures.Count == 0, string.Join('\n', failures.Take(50)));
        Assert.True(outcomes.GetValueOrDefault(nameof(OpenOutcome.Opened)) > 1000 && outcomes.GetValueOrDefault(nameof(OpenOutcome.OutsideRoot)) > 100
            && outcomes.GetValueOrDefault(nameof(OpenOutcome.NotRegularFile)) > 100, "the generator no longer reaches every outcome");
    }

    [SupportedOSPlatform("linux")]
    private static string[] PathSegments(AdversarialTree tree)
    {
        var names = AdversarialTree.EntryNames.SelectMany(n => n.Split('/')).Distinct(StringComparer.Ordinal);
        string[] tricky =
        [
            "..", ".", string.Empty, "...", "canary.txt", "canary-big.bin", "outside", "root-evil", "root", "sub", "deeper", "leaf.txt",
            "d1", "d2", "deep.txt", "dir-slash", "proc", "self", "root", "fd", "etc", "passwd", "\\", "..\\..", "%2e%2e", "\0", "a\0b",
            "\uFF0E\uFF0E", AdversarialTree.NfcName, AdversarialTree.NfdName, "caf\u00E9-nfd.txt", AdversarialTree.LongName255,
            new string('n', 300), "~", " ", "a.txt ", "a.txt.", "a.txt/", "back\\slash.txt", "percent%2e%2e.txt", "\uD800", "\u202E",
        ];
        // Composite segments reach the places a random walk rarely finds: through the absolute
        // symlink to "/" back into the root, and through ".." links out of it.
        string[] composite =
        [
            "dir-slash" + tree.Base + "/root", "dir-slash" + tree.Base, "dir-slash" + tree.Base + "/outside", "dir-parent/root",
            "dir-parent/outside", "dir-out-rel/..", "dir-in/..", "dir-self/dir-self", "dir-slash/etc", "dir-slash/proc/self/root" + tree.Base,
        ];
        return [.. names, .. names, .. tricky, .. composite, .. tree.Base.Split('/', StringSplitOptions.RemoveEmptyEntries)];
    }

    private static string RandomPath(Random random, string[] segments)
    {
        var sb = new StringBuilder(random.Next(10) == 0 ? string.Empty : "/");
        var count = random.Next(4) == 0 ? 1 : random.Next(1, 6);
        for (var i = 0; i < count; i++)
        {
            if (i > 0)
            {
                sb.Append(random.Next(12) switch { 0 => "//", 1 => "\\", _ => "/" });
            }

            sb.Append(segments[random.Next(segments.Length)]);
        }

        return sb.ToString();
    }
}

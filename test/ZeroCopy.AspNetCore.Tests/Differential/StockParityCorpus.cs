namespace ZeroCopy.AspNetCore.Tests.Differential;

/// <summary>
/// One request of the corpus. <see cref="File"/> and <see cref="Semantics"/> are set when the
/// request addresses a known regular file with known conditional/range headers: then the oracle
/// predicts both answers. Bad-path requests carry neither: they must simply be identical.
/// </summary>
public sealed record CorpusItem(int Index, string Section, ProbeRequest Request, FileFacts? File, RequestSemantics? Semantics);

/// <summary>Builds the differential corpus from the validators the servers reported.</summary>
public static class StockParityCorpus
{
    private const string Get = "GET";
    private const string Head = "HEAD";
    private static readonly string[] s_methods = [Get, Head];

    /// <summary>Every Range form: valid, invalid, unsatisfiable, suffix, open, multiple, unknown unit.</summary>
    public static readonly RangeForm[] RangeForms =
    [
        new("bytes=0-0", RangeShape.FromTo, 0, 0),
        new("bytes=0-", RangeShape.From, 0),
        new("bytes=1-", RangeShape.From, 1),
        new("bytes=-1", RangeShape.Suffix, 0, 1),
        new("bytes=-0", RangeShape.Suffix, 0, 0),
        new("bytes=5-2", RangeShape.Ignored),
        new("bytes=100-200", RangeShape.FromTo, 100, 200),
        new("bytes=0-99999999", RangeShape.FromTo, 0, 99999999),
        new("bytes=-99999999", RangeShape.Suffix, 0, 99999999),
        new("bytes=4095-", RangeShape.From, 4095),
        new("bytes=65535-65535", RangeShape.FromTo, 65535, 65535),
        new("bytes=1048576-", RangeShape.From, 1048576),
        // Several ranges: both answer 200 with the whole file (multipart is a later feature).
        new("bytes=0-1,3-4", RangeShape.Ignored),
        // Stock does not look at the unit: "items=0-1" is served as bytes 0-1 (ours does the same).
        new("items=0-1", RangeShape.FromTo, 0, 1),
        new("BYTES=0-0", RangeShape.FromTo, 0, 0),
        new("bytes=abc", RangeShape.Ignored),
        new("bytes=", RangeShape.Ignored),
    ];

    private static readonly TagValue[] s_cartesianTags =
        [TagValue.None, TagValue.Match, TagValue.NoMatch, TagValue.WeakMatch, TagValue.Star, TagValue.Garbage];

    private static readonly DateValue[] s_cartesianDates =
        [DateValue.None, DateValue.Exact, DateValue.Earlier, DateValue.Later, DateValue.Future, DateValue.Invalid];

    /// <summary>Hand-picked precondition combinations (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since), each D1-D4 among them.</summary>
    private static readonly (TagValue Im, TagValue Inm, DateValue Ims, DateValue Ius)[] s_selectedPreconditions =
    [
        (TagValue.None, TagValue.None, DateValue.None, DateValue.None),
        (TagValue.None, TagValue.Match, DateValue.None, DateValue.None),
        (TagValue.None, TagValue.WeakMatch, DateValue.None, DateValue.None),        // D1
        (TagValue.None, TagValue.NoMatch, DateValue.None, DateValue.None),
        (TagValue.None, TagValue.Star, DateValue.None, DateValue.None),
        (TagValue.None, TagValue.None, DateValue.Exact, DateValue.None),
        (TagValue.None, TagValue.None, DateValue.Earlier, DateValue.None),
        (TagValue.None, TagValue.Match, DateValue.Earlier, DateValue.None),         // D2
        (TagValue.None, TagValue.WeakMatch, DateValue.Earlier, DateValue.None),     // D1+D2
        (TagValue.None, TagValue.NoMatch, DateValue.Exact, DateValue.None),
        (TagValue.Match, TagValue.None, DateValue.None, DateValue.None),
        (TagValue.NoMatch, TagValue.None, DateValue.None, DateValue.None),
        (TagValue.WeakMatch, TagValue.None, DateValue.None, DateValue.None),
        (TagValue.Star, TagValue.None, DateValue.None, DateValue.None),
        (TagValue.Match, TagValue.None, DateValue.None, DateValue.Earlier),         // D3
        (TagValue.NoMatch, TagValue.None, DateValue.None, DateValue.Later),
        (TagValue.None, TagValue.None, DateValue.None, DateValue.Earlier),
        (TagValue.None, TagValue.None, DateValue.None, DateValue.Exact),
        (TagValue.Match, TagValue.Match, DateValue.None, DateValue.None),           // D4
        (TagValue.None, TagValue.Match, DateValue.None, DateValue.Exact),           // D4
        (TagValue.Match, TagValue.WeakMatch, DateValue.None, DateValue.None),       // D1+D4
        (TagValue.Star, TagValue.Star, DateValue.None, DateValue.None),             // D4
        (TagValue.None, TagValue.Garbage, DateValue.Exact, DateValue.None),
        (TagValue.Garbage, TagValue.None, DateValue.None, DateValue.Earlier),
        (TagValue.None, TagValue.None, DateValue.Future, DateValue.None),
        (TagValue.None, TagValue.None, DateValue.None, DateValue.Future),
        (TagValue.None, TagValue.None, DateValue.Invalid, DateValue.Invalid),
    ];

    /// <summary>Request targets that probe path handling; none carries semantics (both answers must be identical).</summary>
    public static IEnumerable<string> BadPaths(string outsideName)
    {
        string[] fixedPaths =
        [
            "/../one.bin", "/%2e%2e/one.bin", "/%2E%2E/one.bin", "/sub/../one.bin", "/sub/%2e%2e/one.bin", "/./one.bin", "/%2e/one.bin",
            "//one.bin", "///one.bin", "/sub//nested.txt", "/sub/./nested.txt",
            "/one.bin%00", "/one.bin%00.txt", "/%00",
            "/one.bin/", "/one.bin/.", "/one.bin/..",
            "/dir", "/dir/", "/dir/inner.txt", "/sub", "/sub/",
            "/nonexistent", "/nonexistent.txt", "/nonexistent/deeper/x.txt",
            "/.dotfile.txt", "/sub/.hidden.txt", "/%2edotfile.txt", "/data.unknownext",
            "/sub\\nested.txt", "/sub%5Cnested.txt", "/%5C..%5Cone.bin", "/..%5Cone.bin", "/..\\one.bin",
            "/..%2Fone.bin", "/sub%2Fnested.txt", "/sub%2fnested.txt", "/%2Fone.bin", "/%2F%2Fone.bin", "/%252e%252e/one.bin",
            "/one.bin?query", "/one.bin?x=1&y=../../etc/passwd", "/one.bin?", "/index.html%3Fa=1",
            "/ONE.BIN", "/One.bin", "/one.BIN", "/one.bin.", "/one.bin%20", "/one.bin::$DATA", "/one.bin~",
            "/%C3%28.txt", "/%c0%ae%c0%ae/one.bin", "/%FF.txt",
            "/a%2Bb.txt", "/a%2bb.txt", "/with%20space%20u%CC%88n%CC%83i%CC%88.txt",
            "/index.html/", "/sub/deeper/", "/sub/deeper/leaf.json/..",
        ];
        foreach (var path in fixedPaths)
        {
            yield return path;
        }

        yield return "/" + new string('a', 5000) + ".txt";
        yield return "/" + string.Join('/', Enumerable.Repeat("sub", 600)) + "/x.txt";
        yield return "/sub/" + string.Join('/', Enumerable.Repeat("..", 200)) + "/one.bin";
        yield return "/" + outsideName + "/canary.txt";
        yield return "/../" + outsideName + "/canary.txt";
        yield return "/%2e%2e/" + outsideName + "/canary.txt";
        yield return "/..%2F" + outsideName + "%2Fcanary.txt";
    }

    /// <param name="files">The validators both servers reported, by URL.</param>
    /// <param name="outsideName">The name of the sibling directory the escaping symlinks point into.</param>
    /// <param name="now">The time the date headers are relative to.</param>
    /// <param name="inProcessBadPaths">TestServer: also send the bad paths in process, as raw Request.Path.</param>
    /// <param name="withPreconditionCartesian">
    /// Include section A (every precondition combination on a 1-byte and a future-dated file). The
    /// runs that force a body strategy leave it out: it is about preconditions, not bodies.
    /// </param>
    public static List<CorpusItem> Build(IReadOnlyDictionary<string, FileFacts> files, string outsideName, DateTimeOffset now, bool inProcessBadPaths, bool withPreconditionCartesian = true)
    {
        var items = new List<CorpusItem>();

        void Add(string section, string method, FileFacts file, RequestSemantics semantics)
            => items.Add(new CorpusItem(items.Count, section, new ProbeRequest(method, file.UrlPath, Oracle.Headers(semantics, file, now)), file, semantics));

        // A: every combination of the four preconditions (6 x 6 x 6 x 6): GET and HEAD on a small file,
        // GET on a file whose modification time is in the future (every date relative to it is ignored).
        foreach (var url in withPreconditionCartesian ? ["/one.bin", DifferentialSite.FutureFile] : Array.Empty<string>())
        {
            foreach (var method in url == DifferentialSite.FutureFile ? [Get] : s_methods)
            {
                foreach (var im in s_cartesianTags)
                {
                    foreach (var inm in s_cartesianTags)
                    {
                        foreach (var ims in s_cartesianDates)
                        {
                            foreach (var ius in s_cartesianDates)
                            {
                                Add("A preconditions", method, files[url], new RequestSemantics(im, inm, ims, ius));
                            }
                        }
                    }
                }
            }
        }

        // B: every Range form x every If-Range validator, on every size (and an html file); HEAD ignores Range.
        foreach (var url in DifferentialSite.SizedFiles.Select(f => f.Url).Append("/index.html"))
        {
            foreach (var range in RangeForms)
            {
                foreach (var ifRange in Enum.GetValues<IfRangeValue>())
                {
                    Add("B ranges", Get, files[url], RequestSemantics.Plain with { Range = range, IfRange = ifRange });
                }

                Add("B ranges", Head, files[url], RequestSemantics.Plain with { Range = range });
            }
        }

        // C: selected precondition combinations x a few ranges, on every size.
        RangeForm?[] someRanges = [null, RangeForms[0], RangeForms[3], RangeForms[6], RangeForms[12]];
        foreach (var (url, _) in DifferentialSite.SizedFiles)
        {
            foreach (var (im, inm, ims, ius) in s_selectedPreconditions)
            {
                var conditions = new RequestSemantics(im, inm, ims, ius);
                foreach (var range in someRanges)
                {
                    Add("C preconditions x ranges", Get, files[url], conditions with { Range = range });
                }

                Add("C preconditions x ranges", Get, files[url], conditions with { Range = RangeForms[0], IfRange = IfRangeValue.ETagNoMatch });
                Add("C preconditions x ranges", Head, files[url], conditions);
                Add("C preconditions x ranges", Head, files[url], conditions with { Range = RangeForms[0] });
            }
        }

        // D: more header forms: lists, garbage list members, weak non-matching tags, obsolete date formats.
        var f4095 = files["/f4095.bin"];
        foreach (var method in s_methods)
        {
            foreach (var tag in new[] { TagValue.WeakNoMatch, TagValue.ListWithMatch, TagValue.GarbageThenMatch })
            {
                foreach (var date in new[] { DateValue.None, DateValue.Earlier, DateValue.Exact })
                {
                    Add("D header forms", method, f4095, new RequestSemantics(tag, TagValue.None, date, date));
                    Add("D header forms", method, f4095, new RequestSemantics(TagValue.None, tag, date, date));
                }
            }

            foreach (var date in new[] { DateValue.ExactRfc850, DateValue.ExactAsctime })
            {
                foreach (var tag in new[] { TagValue.None, TagValue.Match, TagValue.NoMatch })
                {
                    Add("D header forms", method, f4095, new RequestSemantics(TagValue.None, tag, date, DateValue.None));
                    Add("D header forms", method, f4095, new RequestSemantics(tag, TagValue.None, DateValue.None, date));
                }
            }
        }

        // E: the other file types and names.
        RequestSemantics[] fewRequests =
        [
            RequestSemantics.Plain,
            RequestSemantics.Plain with { IfNoneMatch = TagValue.Match },
            RequestSemantics.Plain with { IfNoneMatch = TagValue.WeakMatch },
            RequestSemantics.Plain with { IfModifiedSince = DateValue.Exact },
            RequestSemantics.Plain with { Range = RangeForms[0] },
            RequestSemantics.Plain with { Range = RangeForms[3] },
        ];
        foreach (var file in files.Values.Where(f => !DifferentialSite.SizedFiles.Any(s => s.Url == f.UrlPath)))
        {
            foreach (var method in s_methods)
            {
                foreach (var semantics in fewRequests)
                {
                    Add("E file types", method, file, semantics);
                }
            }
        }

        // F: bad paths, compared as they are (no oracle).
        var one = files["/one.bin"];
        foreach (var target in BadPaths(outsideName))
        {
            foreach (var method in s_methods)
            {
                items.Add(new CorpusItem(items.Count, "F bad paths", new ProbeRequest(method, target, []), null, null));
            }

            items.Add(new CorpusItem(items.Count, "F bad paths", new ProbeRequest(Get, target, [new("Range", "bytes=0-0")]), null, null));
            items.Add(new CorpusItem(items.Count, "F bad paths", new ProbeRequest(Get, target, [new("If-None-Match", one.ETag)]), null, null));
            if (inProcessBadPaths)
            {
                foreach (var method in s_methods)
                {
                    items.Add(new CorpusItem(items.Count, "G bad paths, raw Request.Path", new ProbeRequest(method, target, [], InProcess: true), null, null));
                }
            }
        }

        return items;
    }
}

using System.Globalization;
using System.Runtime.Versioning;
using System.Text;

namespace ZeroCopy.AspNetCore.Tests.Adversarial;

/// <summary>
/// Issue 6, case 1: more than a thousand hostile request targets against a root with canaries
/// outside it, escaping symlinks, a FIFO, a socket and dot entries. Ours must serve no canary byte,
/// produce no server error and answer every request within 2 s; every status that differs from
/// stock must have a documented cause. The figures are printed (FIGURE lines) and listed in
/// docs/reliability/adversarial-figures.md; the differences in docs/reliability/paths-vs-stock.md
/// (regenerated with ZC_WRITE_RELIABILITY_DOCS=1).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class PathAdversarialTests(PathCorpusRun run) : IClassFixture<PathCorpusRun>
{
    private static readonly TimeSpan s_slow = TimeSpan.FromSeconds(2);

    private static void RequireLinux()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Linux only: symlinks, FIFOs, sockets and the zero-copy transport.");
    }

    [Fact]
    public void The_corpus_has_more_than_a_thousand_targets_in_every_family()
    {
        RequireLinux();
        var families = run.Corpus.GroupBy(c => c.Family).Select(g => $"{g.Key}: {g.Count()}");
        Figures.Report("paths.targets", $"{run.Corpus.Count} targets ({string.Join(", ", families)})");
        Figures.Report("paths.requests", $"{run.Exchanges.Count(e => e.Transport == "kestrel")} over Kestrel (to ours, to ours with default documents and fallback, to stock), {run.Exchanges.Count(e => e.Transport == "testserver")} over TestServer (to ours and stock), in {run.Duration.TotalSeconds:F1} s");
        Figures.Report("paths.skipped-for-stock", $"{run.SkippedForStock} requests resolving to a FIFO not sent to stock");
        var rejected = run.Exchanges.Where(e => e.Transport == "kestrel" && e.RequestPath is null).GroupBy(e => e.Ours.Status).OrderBy(g => g.Key);
        Figures.Report("paths.kestrel-rejected", $"{string.Join(", ", rejected.Select(g => $"{g.Count()}×{g.Key}"))} answered by Kestrel before the application");
        foreach (var family in run.Exchanges.Where(e => e.Transport == "kestrel" && e.RequestPath is null).GroupBy(e => e.Family))
        {
            Figures.Line($"  rejected by Kestrel, {family.Key}: {family.Count()} ({string.Join(", ", family.GroupBy(e => e.Ours.Status).Select(g => $"{g.Count()}×{g.Key}"))}), e.g. {string.Join("  ", family.Take(4).Select(e => Shorten(e.Target)))}");
        }

        Assert.True(run.Corpus.Count >= 1000, $"only {run.Corpus.Count} targets");
        Assert.True(run.SkippedForStock > 0, "no request resolved to the FIFO: the FIFO cases are vacuous");
    }

    [Fact]
    public void Ours_serves_no_canary_byte()
    {
        RequireLinux();
        var oursCanary = run.Exchanges.Where(e => e.Ours.Canary).ToList();
        var stockCanary = run.Exchanges.Where(e => e.Stock is { Canary: true }).ToList();
        Figures.Report("paths.canary-bytes.ours", $"{oursCanary.Sum(e => e.Ours.CanaryBytes)} bytes in {oursCanary.Count} responses");
        Figures.Report("paths.canary-bytes.stock", $"{stockCanary.Sum(e => e.Stock!.CanaryBytes)} bytes in {stockCanary.Count} responses (escaping symlinks; shows the scan works)");

        Assert.True(oursCanary.Count == 0, "canary served by ours:\n" + string.Join('\n', oursCanary.Take(30).Select(e => $"{e.Transport} {e.Method} {e.Target} -> {e.Ours.Describe()}")));
        // The scan itself is proven on stock, which serves escaping symlinks.
        Assert.NotEmpty(stockCanary);
    }

    [Fact]
    public void Ours_answers_without_server_errors()
    {
        RequireLinux();
        var errors = run.Exchanges.Where(e => e.Ours.Status >= 500 || e.Ours.Status <= 0 || !e.Ours.Complete).ToList();
        Figures.Report("paths.server-errors.ours", $"{errors.Count} responses that are 5xx, missing or cut short; {run.OursErrorLogs.Count} Error-level log records");
        Figures.Report("paths.refusal-events.ours", $"{string.Join(", ", run.OursEvents.Where(e => e.Key is "OutsideRoot" or "NotRegularFile" or "AccessDenied" or "FileNotFound").OrderBy(e => e.Key).Select(e => $"{e.Key} {e.Value}"))}");
        var stockErrors = run.Exchanges.Where(e => e.Stock is { } s && (s.Status >= 500 || s.Status <= 0 || !s.Complete)).ToList();
        Figures.Line($"(stock for comparison: {stockErrors.Count} responses that are 5xx, missing or cut short)");

        Assert.True(errors.Count == 0, "server errors from ours:\n" + string.Join('\n', errors.Take(30).Select(e => $"{e.Transport} {e.Method} {e.Target} (path '{e.RequestPath}') -> {e.Ours.Describe()} {e.Ours.Error}")));
        Assert.True(run.OursErrorLogs.Count == 0, "Error logs from ours:\n" + string.Join('\n', run.OursErrorLogs.Take(10).Select(r => $"{r.Category} {r.EventId} {r.Message} {r.Exception}")));
    }

    [Fact]
    public void Ours_answers_every_request_within_two_seconds()
    {
        RequireLinux();
        var slow = run.Exchanges.Where(e => e.Ours.Elapsed > s_slow).ToList();
        var slowest = run.Exchanges.MaxBy(e => e.Ours.Elapsed)!;
        Figures.Report("paths.slow-requests.ours", $"{slow.Count} over 2 s; slowest {slowest.Ours.Elapsed.TotalMilliseconds:F0} ms ({slowest.Transport} {slowest.Method} {Shorten(slowest.Target)})");

        Assert.True(slow.Count == 0, "slow answers:\n" + string.Join('\n', slow.Take(30).Select(e => $"{e.Transport} {e.Method} {e.Target} -> {e.Ours.Describe()} in {e.Ours.Elapsed.TotalMilliseconds:F0} ms")));
    }

    [Fact]
    public void Known_targets_get_their_known_answers()
    {
        RequireLinux();
        // Controls: proves that the corpus reaches the files it aims at (a corpus of 404s proves nothing).
        const string Index = "<!doctype html><title>adversarial</title>\n";
        (string Transport, string Method, string Target, int Status, string? Body)[] controls =
        [
            ("kestrel", "GET", "/a.txt", 200, "alpha\n"),
            ("kestrel", "GET", "/%61.txt", 200, "alpha\n"),
            ("kestrel", "GET", "/sub/../a.txt", 200, "alpha\n"),
            ("kestrel", "GET", "/sub/%2e%2e/a.txt", 200, "alpha\n"),
            ("kestrel", "GET", "/link-in.txt", 200, "alpha\n"),
            ("kestrel", "GET", "/link-in-abs.txt", 200, "alpha\n"),
            ("kestrel", "GET", "/dir-in/nested.txt", 200, "nested\n"),
            ("kestrel", "GET", "/caf%C3%A9.txt", 200, "NFC name\n"),
            ("kestrel", "GET", "/cafe%CC%81-nfd.txt", 200, "NFD name\n"),
            ("kestrel", "GET", "/cafe%CC%81.txt", 404, null),
            ("kestrel", "GET", "/" + AdversarialTree.LongName255, 200, "255-byte name\n"),
            ("kestrel", "GET", "/semi;colon.txt", 200, "a name with a semicolon\n"),
            ("kestrel", "GET", "/.hidden.txt", 404, null),
            ("kestrel", "GET", "/link-out-rel.txt", 404, null),
            ("kestrel", "GET", "/dir-out-abs/canary-big.bin", 404, null),
            ("kestrel", "GET", "/fifo.txt", 404, null),
            ("kestrel", "GET", "/sock.txt", 404, null),
            // Precompressed siblings: the legitimate one is served, the hostile ones are skipped.
            ("kestrel", "GET+AE", "/sub/nested.txt", 200, "GZ-SIBLING\n"),
            ("kestrel", "GET+AE", "/a.txt", 200, "alpha\n"),
            ("kestrel", "GET+AE", "/index.html", 200, Index),
            ("kestrel", "GET+AE", "/big.bin", 200, null),
            ("kestrel", "GET", "/a.txt.br", 404, null),
            ("kestrel", "GET", "/a.txt.gz", 404, null),
            // Default documents and the SPA fallback: refused documents fall back to index.html.
            ("kestrel+features", "GET", "/sub/", 200, Index),
            ("kestrel+features", "GET", "/sub/deeper/", 200, Index),
            ("kestrel+features", "GET", "/dir-out-rel/", 200, Index),
            ("kestrel+features", "GET", "/dir-parent/", 200, Index),
            ("kestrel+features", "GET", "/link-out-rel.txt", 404, null),
            ("testserver", "GET", "/../canary.txt", 404, null),
            ("testserver", "GET+AE", "/a.txt", 200, "alpha\n"),
        ];

        var failures = new List<string>();
        foreach (var (transport, method, target, status, body) in controls)
        {
            var printable = RawRequest.Describe(Encoding.UTF8.GetBytes(target));
            var exchange = run.Exchanges.FirstOrDefault(e => e.Transport == transport && e.Method == method && e.Target == printable);
            if (exchange is null)
            {
                failures.Add($"{transport} {method} {target}: not in the corpus");
            }
            else if (exchange.Ours.Status != status || (body is not null && exchange.Ours.BodyText != body))
            {
                failures.Add($"{transport} {method} {target}: expected {status} '{body}', got {exchange.Ours.Describe()} '{exchange.Ours.BodyText}'");
            }
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public void Every_status_difference_from_stock_has_a_documented_cause()
    {
        RequireLinux();
        var compared = run.Exchanges.Where(e => e.Stock is not null).ToList();
        var differences = compared.Where(e => e.Stock!.Status != e.Ours.Status).ToList();
        var unexplained = differences.Where(e => DocumentedCause(e) is null).ToList();
        var cutShort = compared.Where(e => e.Stock!.Status == e.Ours.Status && e.Stock.Complete != e.Ours.Complete).ToList();
        var markdown = Markdown(compared.Count, differences, cutShort);

        Figures.Report("paths.compared-with-stock", $"{compared.Count} requests ({run.SkippedForStock} FIFO requests not sent to stock)");
        Figures.Report("paths.status-differences", $"{differences.Count} ({string.Join(", ", differences.GroupBy(e => DocumentedCause(e) ?? (Cause(e) is { } c ? c + " (NOT IN README)" : "UNEXPLAINED")).Select(g => $"{g.Key}: {g.Count()}"))})");
        Figures.Report("paths.unexplained-differences", $"{unexplained.Count}");
        Figures.Line(markdown);
        if (Environment.GetEnvironmentVariable("ZC_WRITE_RELIABILITY_DOCS") == "1")
        {
            var path = Path.Combine(Repository.Root, "docs", "reliability", "paths-vs-stock.md");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, markdown);
        }

        Assert.True(unexplained.Count == 0, "status differences without a documented cause:\n" + string.Join('\n', unexplained.Take(40).Select(e =>
            $"{e.Transport} {e.Method} {e.Target} (path '{e.RequestPath}', {e.Class.Cause}/{e.Class.Kind}): stock {e.Stock!.Describe()}, ours {e.Ours.Describe()}"
            + (Cause(e) is { } cause ? $" -- cause '{cause}' is not in README.md (row \"{s_causes[e.Class.Cause].ReadmeRow}\")" : string.Empty))));
    }

    /// <summary>
    /// The causes of status differences, each with the text of its row in the README's "Differences
    /// from stock UseStaticFiles" table. A cause counts as documented only while the README has that
    /// row, so a difference found here stays a failure until it is written down.
    /// </summary>
    private static readonly Dictionary<PathCause, (string Name, string ReadmeRow)> s_causes = new()
    {
        [PathCause.EscapingSymlink] = ("symlink resolving outside the root", "that resolves outside the root"),
        [PathCause.SpecialFile] = ("FIFO, socket or device", "A Unix socket or device node under the root"),
        [PathCause.DanglingOrLoopingSymlink] = ("dangling or looping symlink", "A dangling or looping symlink"),
        [PathCause.SymlinkInsideRoot] = ("symlink inside the root (stock: the link's own length)", "A symlink inside the root"),
        [PathCause.TrailingSlashAfterFile] = ("file name followed by \"/\"", "A file name followed by `/`"),
    };

    private static readonly Lazy<string> s_readme = new(() => File.ReadAllText(Path.Combine(Repository.Root, "README.md")));

    /// <summary>The cause of a status difference when ours answers as that cause requires, else null.</summary>
    private static string? Cause(PathExchange e)
    {
        var expected = e.Class.Cause switch
        {
            PathCause.EscapingSymlink or PathCause.SpecialFile or PathCause.DanglingOrLoopingSymlink or PathCause.TrailingSlashAfterFile => e.Ours.Status == 404,
            // Stock describes an in-root symlink by the link itself; when the link's text is longer
            // than its target the body is cut short and the connection fails.
            PathCause.SymlinkInsideRoot => e.Ours.Status == 200,
            _ => false,
        };
        return expected ? s_causes[e.Class.Cause].Name : null;
    }

    /// <summary>The cause of a status difference when it is documented in the README, else null.</summary>
    private static string? DocumentedCause(PathExchange e)
        => Cause(e) is { } name && s_readme.Value.Contains(s_causes[e.Class.Cause].ReadmeRow, StringComparison.Ordinal) ? name : null;

    private string Markdown(int compared, List<PathExchange> differences, List<PathExchange> cutShort)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Paths: UseZeroCopyStaticFiles versus stock UseStaticFiles");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Generated by `PathAdversarialTests` (issue 6, adversarial suite) from {run.Corpus.Count} request targets,");
        sb.AppendLine(CultureInfo.InvariantCulture, $"{compared} requests answered by both servers (GET for every target; HEAD and GET with `Accept-Encoding: br, gzip`,");
        sb.AppendLine("\"GET+AE\", for the named entries; over Kestrel with raw sockets, and over TestServer with the target as `Request.Path`,");
        sb.AppendLine("undecoded and percent-decoded). Ours runs with its defaults (hot cache, precompressed siblings, MaxRanges 16).");
        sb.AppendLine(CultureInfo.InvariantCulture, $"{run.SkippedForStock} requests that resolve to a FIFO were not sent to stock, which blocks on them forever");
        sb.AppendLine("(ours answers them 404 at once). Both servers use `ServeUnknownFileTypes = true` so that every name reaches the");
        sb.AppendLine("file system. Regenerate: `ZC_WRITE_RELIABILITY_DOCS=1 dotnet test test/ZeroCopy.AspNetCore.Tests --filter \"FullyQualifiedName~Adversarial.PathAdversarialTests\"`.");
        sb.AppendLine();
        var undocumented = differences.Count(e => DocumentedCause(e) is null);
        sb.AppendLine(CultureInfo.InvariantCulture, $"{differences.Count} status differences, {undocumented} of them without a row in the README's \"Differences from stock UseStaticFiles\":");
        sb.AppendLine();
        sb.AppendLine("| Cause (README \"Differences from stock\") | Method | Stock | Ours | Requests |");
        sb.AppendLine("|---|---|---|---|---|");
        foreach (var group in differences
            .GroupBy(e => (Cause: Label(e), e.Method, Stock: e.Stock!.Describe(), Ours: e.Ours.Describe()))
            .OrderBy(g => g.Key.Cause, StringComparer.Ordinal).ThenBy(g => g.Key.Method, StringComparer.Ordinal))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {group.Key.Cause} | {group.Key.Method} | {group.Key.Stock} | {group.Key.Ours} | {group.Count()} |");
        }

        sb.AppendLine();
        sb.AppendLine("Per cause, the entries involved and how many targets reached each (after Kestrel's decoding or as `Request.Path`):");
        sb.AppendLine();
        foreach (var group in differences.GroupBy(Label).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            sb.AppendLine("- " + group.Key + ": " + string.Join(", ", group
                .GroupBy(e => Relative(e.Class.RealPath) ?? Entry(e.RequestPath))
                .OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => $"`{g.Key}` ({g.Count()})")));
        }

        if (cutShort.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"Same status, but one body cut short ({cutShort.Count}; stock's Content-Length is the symlink's own length):");
            sb.AppendLine(CultureInfo.InvariantCulture, $"{string.Join(", ", cutShort.GroupBy(e => Entry(e.RequestPath)).Select(g => $"`{g.Key}` ({g.Count()})"))}.");
        }

        sb.AppendLine();
        sb.AppendLine("Notes for the README's \"Differences from stock UseStaticFiles\" table:");
        sb.AppendLine();
        sb.AppendLine("- \"A Unix socket or device node under the root\": stock answers a socket HEAD 200 and GET 500 (the open throws,");
        sb.AppendLine("  ENXIO), and a character device HEAD 200 and GET 200 with the device's bytes.");
        sb.AppendLine("- \"A file name followed by `/`\": stock's HEAD 200 carries the file's Content-Length, ETag and Last-Modified even for");
        sb.AppendLine("  dot-files (`/.hidden.txt/`, which stock otherwise hides) and for files behind escaping symlinks (`/link-out-rel.txt/`,");
        sb.AppendLine("  `/dir-out-rel/canary.txt/`): a metadata leak ours does not have.");
        sb.AppendLine("- Stock's 500s above are logged at Error level; ours logs its refusals at Debug (events `OutsideRoot`, `NotRegularFile`, `FileNotFound`).");
        sb.AppendLine();
        sb.AppendLine("<details><summary>Every status difference</summary>");
        sb.AppendLine();
        sb.AppendLine("| Transport | Method | Target | Path seen by the application | Resolves to | Stock | Ours |");
        sb.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var e in differences.OrderBy(Label, StringComparer.Ordinal).ThenBy(e => e.Transport, StringComparer.Ordinal).ThenBy(e => e.Target, StringComparer.Ordinal))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {e.Transport} | {e.Method} | `{Cell(Shorten(e.Target))}` | `{Cell(Shorten(RawRequest.Describe(Encoding.UTF8.GetBytes(e.RequestPath ?? string.Empty))))}` | {e.Class.Kind} `{Cell(Relative(e.Class.RealPath) ?? "-")}` | {e.Stock!.Describe()} | {e.Ours.Describe()} |");
        }

        sb.AppendLine();
        sb.AppendLine("</details>");
        return sb.ToString();
    }

    private static string Label(PathExchange e)
        => DocumentedCause(e) ?? (Cause(e) is { } cause ? cause + " (**not yet in the README**)" : "**unexplained**");

    /// <summary>A real path relative to the tree's base ("root/a.txt", "outside/canary.txt"), for stable output.</summary>
    private string? Relative(string? realPath)
    {
        if (realPath is null)
        {
            return null;
        }

        var realBase = AdversarialTree.RealPath(run.Tree.Base, out var _) ?? run.Tree.Base;
        return realPath.StartsWith(realBase + "/", StringComparison.Ordinal) ? realPath[(realBase.Length + 1)..] : realPath;
    }

    private static string Entry(string? requestPath) => requestPath is null ? "(rejected)" : RawRequest.Describe(Encoding.UTF8.GetBytes(requestPath));

    private string Cell(string text)
        => text.Replace(run.Tree.Base.TrimStart('/'), "<base>", StringComparison.Ordinal).Replace("|", "\\|", StringComparison.Ordinal).Replace("`", "'", StringComparison.Ordinal);

    private static string Shorten(string text) => text.Length <= 90 ? text : text[..60] + "..." + text[^25..];
}

using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace ZeroCopy.AspNetCore.Tests.Differential;

/// <summary>A request whose answers are not acceptable, with both answers.</summary>
public sealed record Mismatch(CorpusItem Item, string Reason, ResponseSnapshot Stock, ResponseSnapshot Ours, string? Expected)
{
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"#{Item.Index} [{Item.Section}] {Item.Request}\n");
        sb.Append("    why:   ").Append(Reason).Append('\n');
        sb.Append("    stock: ").Append(Stock).Append('\n');
        sb.Append("    ours:  ").Append(Ours).Append('\n');
        if (Expected is not null)
        {
            sb.Append("    expected (ours): ").Append(Expected).Append('\n');
        }

        return sb.ToString();
    }
}

/// <summary>The outcome of running a corpus against a <see cref="ServerPair"/>.</summary>
public sealed class DifferentialResult
{
    public ConcurrentBag<Mismatch> Mismatches { get; } = [];

    /// <summary>Accepted differences by explanation ("D1", "D2+D4", ...).</summary>
    public ConcurrentDictionary<string, int> Differences { get; } = new();

    public ConcurrentDictionary<string, int> RequestsBySection { get; } = new();

    /// <summary>Statuses (stock/ours) by section, for the summary.</summary>
    public ConcurrentDictionary<(string Section, string Statuses), int> StatusesBySection { get; } = new();

    private int _identical;
    private int _ambiguous;

    public int Identical => Volatile.Read(ref _identical);

    /// <summary>Differences with more than one smallest explanation (counted under the first).</summary>
    public int Ambiguous => Volatile.Read(ref _ambiguous);

    public void CountIdentical() => Interlocked.Increment(ref _identical);

    public void CountAmbiguous() => Interlocked.Increment(ref _ambiguous);

    public int Total => RequestsBySection.Values.Sum();

    /// <summary>How many accepted differences are explained by <paramref name="rule"/> alone.</summary>
    public int Alone(DocumentedDifference rule) => Differences.GetValueOrDefault(DocumentedDifferences.Label(rule));

    /// <summary>How many accepted differences involve <paramref name="rule"/>.</summary>
    public int Involving(DocumentedDifference rule)
        => Differences.Where(d => d.Key.Split('+').Contains(DocumentedDifferences.Label(rule))).Sum(d => d.Value);

    public string Summary()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{Total} corpus requests (each sent to both servers); {Identical} identical; ");
        sb.Append(CultureInfo.InvariantCulture, $"{Differences.Values.Sum()} documented differences; {Mismatches.Count} unacceptable; {Ambiguous} with several explanations.\n");
        foreach (var (section, count) in RequestsBySection.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            var statuses = StatusesBySection.Where(s => s.Key.Section == section).OrderBy(s => s.Key.Statuses, StringComparer.Ordinal)
                .Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Key.Statuses} x{s.Value}"));
            sb.Append(CultureInfo.InvariantCulture, $"  section {section}: {count} (stock/ours: {string.Join(", ", statuses)})\n");
        }

        foreach (var (label, count) in Differences.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            sb.Append(CultureInfo.InvariantCulture, $"  difference {label}: {count}\n");
        }

        foreach (var rule in DocumentedDifferences.PreconditionRules)
        {
            sb.Append(CultureInfo.InvariantCulture, $"  {DocumentedDifferences.Label(rule)}: alone {Alone(rule)}, involved in {Involving(rule)}\n");
        }

        return sb.ToString();
    }

    public string FailureReport(int max = 20)
    {
        var sorted = Mismatches.OrderBy(m => m.Item.Index).ToList();
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{sorted.Count} of {Total} requests are answered differently from stock without a documented reason (showing {Math.Min(max, sorted.Count)}):\n");
        foreach (var mismatch in sorted.Take(max))
        {
            sb.Append(mismatch);
        }

        sb.Append('\n').Append(Summary());
        return sb.ToString();
    }
}

/// <summary>Sends every corpus request to both servers and judges the pair of answers.</summary>
public static class DifferentialRunner
{
    private const int Parallelism = 8;

    /// <summary>
    /// Plain HEAD to each file on both servers: 200, identical validators and Content-Length equal to
    /// the file's length on both. Returns the validators as the oracle's facts, by URL.
    /// </summary>
    public static async Task<Dictionary<string, FileFacts>> ReadValidatorsAsync(DifferentialSite site, ServerPair servers, CancellationToken cancellationToken)
    {
        var facts = new Dictionary<string, FileFacts>(StringComparer.Ordinal);
        foreach (var file in site.Files)
        {
            var request = new ProbeRequest("HEAD", file.UrlPath, []);
            var stock = await Prober.SendAsync(servers.Stock, request, cancellationToken);
            var ours = await Prober.SendAsync(servers.Ours, request, cancellationToken);
            Assert.True(stock.Status == 200 && ours.Status == 200, $"HEAD {file.UrlPath}: stock {stock}, ours {ours}");
            Assert.True(stock.SameAs(ours), $"HEAD {file.UrlPath} differs:\n stock {stock}\n ours  {ours}");
            var etag = ours.HeaderValue("etag");
            var lastModified = ours.HeaderValue("last-modified");
            Assert.NotNull(etag);
            Assert.NotNull(lastModified);
            Assert.Equal(file.Content.Length.ToString(CultureInfo.InvariantCulture), ours.HeaderValue("content-length"));
            var expectedLastModified = new DateTimeOffset(file.LastWriteTimeUtc.Ticks - (file.LastWriteTimeUtc.Ticks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
            var fileFacts = new FileFacts(file.UrlPath, file.Content, etag, lastModified);
            Assert.Equal(expectedLastModified, fileFacts.LastModified);
            facts.Add(file.UrlPath, fileFacts);
        }

        return facts;
    }

    public static async Task<DifferentialResult> RunAsync(ServerPair servers, IReadOnlyList<CorpusItem> corpus, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var result = new DifferentialResult();
        var references = new ConcurrentDictionary<string, Lazy<Task<ResponseSnapshot>>>(StringComparer.Ordinal);
        var options = new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(corpus, options, async (item, token) =>
        {
            result.RequestsBySection.AddOrUpdate(item.Section, 1, (_, n) => n + 1);
            var stock = await Prober.SendAsync(servers.Stock, item.Request, token);
            var ours = await Prober.SendAsync(servers.Ours, item.Request, token);
            result.StatusesBySection.AddOrUpdate((item.Section, string.Create(CultureInfo.InvariantCulture, $"{stock.Status}/{ours.Status}")), 1, (_, n) => n + 1);
            await JudgeAsync(servers.Stock, item, stock, ours, now, result, references, token);
        });
        return result;
    }

    private static async Task JudgeAsync(
        TestHost stockHost,
        CorpusItem item,
        ResponseSnapshot stock,
        ResponseSnapshot ours,
        DateTimeOffset now,
        DifferentialResult result,
        ConcurrentDictionary<string, Lazy<Task<ResponseSnapshot>>> references,
        CancellationToken cancellationToken)
    {
        // Every request to a known file: ours must answer what RFC 9110 (the oracle, with all of D1-D4) says.
        if (item.Semantics is { } semantics && item.File is { } file)
        {
            var expected = Oracle.Predict(item.Request.Method, semantics, file, now, DocumentedDifferences.AllPreconditionRules);
            if (!expected.Matches(ours))
            {
                result.Mismatches.Add(new Mismatch(item, "ours does not answer what the oracle (RFC 9110 §13.2.2 order, stock range rules) predicts", stock, ours, expected.ToString()));
                return;
            }
        }

        if (stock.SameAs(ours))
        {
            result.CountIdentical();
            return;
        }

        if (item.Semantics is null || item.File is null)
        {
            result.Mismatches.Add(new Mismatch(item, "unclassified difference (no documented difference applies to this request)", stock, ours, null));
            return;
        }

        var explanations = Oracle.Explain(item.Request.Method, item.Semantics, item.File, now, stock, ours);
        if (explanations.Count == 0)
        {
            var stockModel = Oracle.Predict(item.Request.Method, item.Semantics, item.File, now, DocumentedDifference.None);
            var reason = stockModel.Matches(stock)
                ? "unclassified difference: no combination of D1-D4 explains it"
                : $"unclassified difference: stock does not answer as modelled ({stockModel})";
            result.Mismatches.Add(new Mismatch(item, reason, stock, ours, null));
            return;
        }

        // The documented form: ours answers exactly what stock answers to the request that asks for
        // that outcome directly (a 304 carries stock's 304 header set; a 200/206 is stock's 200/206).
        var equivalent = Equivalent(item, ours.Status);
        var key = equivalent.ToString();
        var reference = await references.GetOrAdd(key, _ => new Lazy<Task<ResponseSnapshot>>(() => Prober.SendAsync(stockHost, equivalent, cancellationToken))).Value;
        if (!reference.SameAs(ours))
        {
            result.Mismatches.Add(new Mismatch(item, $"difference {DocumentedDifferences.Label(explanations[0])} not in its documented form: stock answers {reference} to {equivalent}", stock, ours, null));
            return;
        }

        if (explanations.Count > 1)
        {
            result.CountAmbiguous();
        }

        result.Differences.AddOrUpdate(DocumentedDifferences.Label(explanations[0]), 1, (_, n) => n + 1);
    }

    /// <summary>
    /// The request for which stock gives, by its own rules, the answer ours documents: If-None-Match
    /// with the current ETag for a 304, a failing If-Match for a 412, and without any precondition
    /// (keeping Range and If-Range) otherwise.
    /// </summary>
    private static ProbeRequest Equivalent(CorpusItem item, int oursStatus)
    {
        var request = item.Request;
        return oursStatus switch
        {
            304 => request with { Headers = [new("If-None-Match", item.File!.ETag)] },
            412 => request with { Headers = [new("If-Match", "\"0000deadbeef\"")] },
            _ => request with
            {
                Headers = request.Headers.Where(h => h.Key is "Range" or "If-Range").ToList(),
            },
        };
    }
}

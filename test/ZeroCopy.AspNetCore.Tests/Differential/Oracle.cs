using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;

namespace ZeroCopy.AspNetCore.Tests.Differential;

/// <summary>What an entity-tag header (If-Match, If-None-Match) of a corpus request holds, relative to the file's ETag.</summary>
public enum TagValue
{
    None,
    /// <summary>The file's ETag.</summary>
    Match,
    /// <summary>Another strong tag.</summary>
    NoMatch,
    /// <summary><c>W/</c> + the file's ETag: matches weakly, never strongly.</summary>
    WeakMatch,
    /// <summary><c>W/</c> + another tag.</summary>
    WeakNoMatch,
    /// <summary><c>*</c>.</summary>
    Star,
    /// <summary>Does not parse: the header is ignored.</summary>
    Garbage,
    /// <summary><c>"other", "etag"</c>.</summary>
    ListWithMatch,
    /// <summary><c>garbage, "etag"</c>: list members that do not parse are skipped.</summary>
    GarbageThenMatch,
}

/// <summary>What a date header (If-Modified-Since, If-Unmodified-Since) holds, relative to Last-Modified.</summary>
public enum DateValue
{
    None,
    /// <summary>Last-Modified, IMF-fixdate.</summary>
    Exact,
    /// <summary>Last-Modified in the obsolete RFC 850 format.</summary>
    ExactRfc850,
    /// <summary>Last-Modified in the obsolete asctime format.</summary>
    ExactAsctime,
    /// <summary>One hour before Last-Modified.</summary>
    Earlier,
    /// <summary>One hour after Last-Modified.</summary>
    Later,
    /// <summary>A day after now: ignored (a date in the future is not a valid validator).</summary>
    Future,
    /// <summary>Not a date: ignored.</summary>
    Invalid,
}

/// <summary>What If-Range holds.</summary>
public enum IfRangeValue
{
    None,
    ETagMatch,
    ETagNoMatch,
    /// <summary><c>W/</c> + the file's ETag: If-Range uses the strong comparison, so it fails.</summary>
    WeakETagMatch,
    DateExact,
    DateEarlier,
    DateLater,
    /// <summary>A day after now (If-Range has no "not in the future" rule: it is later than Last-Modified).</summary>
    DateFuture,
    /// <summary>Does not parse: ignored, the Range applies.</summary>
    Garbage,
}

public enum RangeShape
{
    /// <summary>The Range header does not parse, or asks for several ranges: the whole file (200).</summary>
    Ignored,
    /// <summary><c>a-b</c>.</summary>
    FromTo,
    /// <summary><c>a-</c>.</summary>
    From,
    /// <summary><c>-n</c>.</summary>
    Suffix,
}

/// <summary>A Range header value and what it means.</summary>
public sealed record RangeForm(string Header, RangeShape Shape, long First = 0, long Last = 0)
{
    public override string ToString() => Header;
}

/// <summary>The conditional and range headers of a corpus request to a known regular file.</summary>
public sealed record RequestSemantics(
    TagValue IfMatch,
    TagValue IfNoneMatch,
    DateValue IfModifiedSince,
    DateValue IfUnmodifiedSince,
    RangeForm? Range = null,
    IfRangeValue IfRange = IfRangeValue.None)
{
    public static readonly RequestSemantics Plain = new(TagValue.None, TagValue.None, DateValue.None, DateValue.None);
}

/// <summary>The validators of a served file (as both servers reported them) and its bytes.</summary>
public sealed class FileFacts
{
    private readonly ConcurrentDictionary<(long, long), string> _hashes = new();

    public FileFacts(string urlPath, byte[] content, string etag, string lastModifiedHeader)
    {
        UrlPath = urlPath;
        Content = content;
        ETag = etag;
        LastModifiedHeader = lastModifiedHeader;
        LastModified = DateTimeOffset.ParseExact(lastModifiedHeader, "r", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
    }

    public string UrlPath { get; }

    public byte[] Content { get; }

    public long Length => Content.Length;

    /// <summary>Quoted strong entity tag, as the ETag response header.</summary>
    public string ETag { get; }

    public string LastModifiedHeader { get; }

    public DateTimeOffset LastModified { get; }

    public string Sha256(long start, long count)
        => _hashes.GetOrAdd((start, count), key => Convert.ToHexStringLower(SHA256.HashData(Content.AsSpan((int)key.Item1, (int)key.Item2))));
}

/// <summary>What the oracle expects: status, Content-Range and the body.</summary>
public sealed record ExpectedResponse(int Status, string? ContentRange, string BodySha256, long BodyLength)
{
    public static readonly string EmptySha256 = Convert.ToHexStringLower(SHA256.HashData([]));

    public static ExpectedResponse NoBody(int status, string? contentRange = null) => new(status, contentRange, EmptySha256, 0);

    public bool Matches(ResponseSnapshot response)
        => response.Error is null
            && response.Status == Status
            && response.HeaderValue("content-range") == ContentRange
            && response.BodySha256 == BodySha256
            && response.BodyLength == BodyLength;

    public override string ToString()
        => $"{Status}{(ContentRange is null ? string.Empty : " Content-Range: " + ContentRange)}, body {BodyLength} bytes sha256={BodySha256[..12]}";
}

public enum PreconditionOutcome
{
    Proceed,
    NotModified,
    PreconditionFailed,
}

/// <summary>
/// An independent model of conditional and range handling, from the semantics of each header
/// (never from parsing the header text). <see cref="DocumentedDifference.None"/> models stock
/// StaticFileMiddleware ("largest precondition state wins", strong If-None-Match); all of D1-D4
/// model RFC 9110 §13.2.2 (UseZeroCopyStaticFiles). Any subset in between is used to explain a
/// difference: the smallest set of rules that turns the stock prediction into the observed answer.
/// </summary>
public static class Oracle
{
    private static readonly TimeSpan s_step = TimeSpan.FromHours(1);

    // Stock's PreconditionState order: Unspecified < NotModified < ShouldProcess < PreconditionFailed.
    private enum State
    {
        Unspecified = 0,
        NotModified = 1,
        ShouldProcess = 2,
        PreconditionFailed = 3,
    }

    /// <summary>Header text for an entity-tag header.</summary>
    public static string? TagHeader(TagValue value, string etag) => value switch
    {
        TagValue.None => null,
        TagValue.Match => etag,
        TagValue.NoMatch => "\"0000deadbeef\"",
        TagValue.WeakMatch => "W/" + etag,
        TagValue.WeakNoMatch => "W/\"0000deadbeef\"",
        TagValue.Star => "*",
        TagValue.Garbage => "garbage",
        TagValue.ListWithMatch => "\"0000deadbeef\", " + etag,
        TagValue.GarbageThenMatch => "garbage, " + etag,
        _ => throw new ArgumentOutOfRangeException(nameof(value)),
    };

    /// <summary>Header text for a date header.</summary>
    public static string? DateHeader(DateValue value, FileFacts file, DateTimeOffset now) => value switch
    {
        DateValue.None => null,
        DateValue.Exact => file.LastModifiedHeader,
        DateValue.ExactRfc850 => file.LastModified.UtcDateTime.ToString("dddd, dd'-'MMM'-'yy HH':'mm':'ss 'GMT'", CultureInfo.InvariantCulture),
        DateValue.ExactAsctime => Asctime(file.LastModified),
        DateValue.Earlier => (file.LastModified - s_step).ToString("r", CultureInfo.InvariantCulture),
        DateValue.Later => (file.LastModified + s_step).ToString("r", CultureInfo.InvariantCulture),
        DateValue.Future => now.AddDays(1).ToString("r", CultureInfo.InvariantCulture),
        DateValue.Invalid => "not a date",
        _ => throw new ArgumentOutOfRangeException(nameof(value)),
    };

    public static string? IfRangeHeader(IfRangeValue value, FileFacts file, DateTimeOffset now) => value switch
    {
        IfRangeValue.None => null,
        IfRangeValue.ETagMatch => file.ETag,
        IfRangeValue.ETagNoMatch => "\"0000deadbeef\"",
        IfRangeValue.WeakETagMatch => "W/" + file.ETag,
        IfRangeValue.DateExact => file.LastModifiedHeader,
        IfRangeValue.DateEarlier => (file.LastModified - s_step).ToString("r", CultureInfo.InvariantCulture),
        IfRangeValue.DateLater => (file.LastModified + s_step).ToString("r", CultureInfo.InvariantCulture),
        IfRangeValue.DateFuture => now.AddDays(1).ToString("r", CultureInfo.InvariantCulture),
        IfRangeValue.Garbage => "garbage",
        _ => throw new ArgumentOutOfRangeException(nameof(value)),
    };

    /// <summary>The request headers for <paramref name="semantics"/>, in a fixed order.</summary>
    public static List<KeyValuePair<string, string>> Headers(RequestSemantics semantics, FileFacts file, DateTimeOffset now)
    {
        var headers = new List<KeyValuePair<string, string>>();
        Add(headers, "If-Match", TagHeader(semantics.IfMatch, file.ETag));
        Add(headers, "If-None-Match", TagHeader(semantics.IfNoneMatch, file.ETag));
        Add(headers, "If-Modified-Since", DateHeader(semantics.IfModifiedSince, file, now));
        Add(headers, "If-Unmodified-Since", DateHeader(semantics.IfUnmodifiedSince, file, now));
        Add(headers, "Range", semantics.Range?.Header);
        Add(headers, "If-Range", IfRangeHeader(semantics.IfRange, file, now));
        return headers;

        static void Add(List<KeyValuePair<string, string>> list, string name, string? value)
        {
            if (value is not null)
            {
                list.Add(new(name, value));
            }
        }
    }

    /// <summary>The response under the given rules (None = stock, all of D1-D4 = ours).</summary>
    public static ExpectedResponse Predict(string method, RequestSemantics semantics, FileFacts file, DateTimeOffset now, DocumentedDifference rules)
    {
        switch (EvaluatePreconditions(semantics, file, now, rules))
        {
            case PreconditionOutcome.NotModified:
                return ExpectedResponse.NoBody(304);
            case PreconditionOutcome.PreconditionFailed:
                return ExpectedResponse.NoBody(412);
        }

        if (method == "HEAD")
        {
            // A server ignores Range on HEAD.
            return ExpectedResponse.NoBody(200);
        }

        var length = file.Length;
        var full = new ExpectedResponse(200, null, file.Sha256(0, length), length);
        if (semantics.Range is not { } range || range.Shape == RangeShape.Ignored)
        {
            return full;
        }

        // If-Range: strong comparison for tags; for dates, the range applies when the file is not newer.
        var ifRangeAllows = semantics.IfRange switch
        {
            IfRangeValue.None or IfRangeValue.Garbage or IfRangeValue.ETagMatch => true,
            IfRangeValue.ETagNoMatch or IfRangeValue.WeakETagMatch => false,
            IfRangeValue.DateExact => true,
            IfRangeValue.DateEarlier => false,
            IfRangeValue.DateLater => true,
            IfRangeValue.DateFuture => file.LastModified <= now.AddDays(1),
            _ => throw new ArgumentOutOfRangeException(nameof(semantics)),
        };
        if (!ifRangeAllows)
        {
            return full;
        }

        var unsatisfiable = ExpectedResponse.NoBody(416, "bytes */" + length.ToString(CultureInfo.InvariantCulture));
        if (length == 0)
        {
            return unsatisfiable;
        }

        long start;
        long count;
        switch (range.Shape)
        {
            case RangeShape.FromTo:
                if (range.First >= length)
                {
                    return unsatisfiable;
                }

                start = range.First;
                count = Math.Min(range.Last, length - 1) - start + 1;
                break;
            case RangeShape.From:
                if (range.First >= length)
                {
                    return unsatisfiable;
                }

                start = range.First;
                count = length - start;
                break;
            default:
                if (range.Last == 0)
                {
                    return unsatisfiable;
                }

                count = Math.Min(range.Last, length);
                start = length - count;
                break;
        }

        var contentRange = string.Create(CultureInfo.InvariantCulture, $"bytes {start}-{start + count - 1}/{length}");
        return new ExpectedResponse(206, contentRange, file.Sha256(start, count), count);
    }

    public static PreconditionOutcome EvaluatePreconditions(RequestSemantics s, FileFacts file, DateTimeOffset now, DocumentedDifference rules)
    {
        var weakIfNoneMatch = rules.HasFlag(DocumentedDifference.D1WeakIfNoneMatch);
        var ifNoneMatchOverridesIms = rules.HasFlag(DocumentedDifference.D2IfNoneMatchOverridesIfModifiedSince);
        var ifMatchOverridesIus = rules.HasFlag(DocumentedDifference.D3IfMatchOverridesIfUnmodifiedSince);
        var rfcOrder = rules.HasFlag(DocumentedDifference.D4Rfc9110EvaluationOrder);
        var lastModified = file.LastModified;

        // Under D4 a passing If-Match / If-Unmodified-Since is neutral: it lets evaluation continue
        // instead of competing with a 304.
        var passed = rfcOrder ? State.Unspecified : State.ShouldProcess;

        var ifMatch = State.Unspecified;
        if (TagPresent(s.IfMatch))
        {
            ifMatch = StrongMatch(s.IfMatch) ? passed : State.PreconditionFailed;
        }

        var ifUnmodifiedSince = State.Unspecified;
        if (EffectiveDate(s.IfUnmodifiedSince, file, now) is { } ius && !(ifMatchOverridesIus && TagPresent(s.IfMatch)))
        {
            ifUnmodifiedSince = lastModified <= ius ? passed : State.PreconditionFailed;
        }

        var ifNoneMatch = State.Unspecified;
        if (TagPresent(s.IfNoneMatch))
        {
            var matches = weakIfNoneMatch ? WeakMatch(s.IfNoneMatch) : StrongMatch(s.IfNoneMatch);
            ifNoneMatch = matches ? State.NotModified : State.ShouldProcess;
        }

        var ifModifiedSince = State.Unspecified;
        if (EffectiveDate(s.IfModifiedSince, file, now) is { } ims && !(ifNoneMatchOverridesIms && TagPresent(s.IfNoneMatch)))
        {
            ifModifiedSince = lastModified <= ims ? State.NotModified : State.ShouldProcess;
        }

        var max = (State)Math.Max(Math.Max((int)ifMatch, (int)ifUnmodifiedSince), Math.Max((int)ifNoneMatch, (int)ifModifiedSince));
        return max switch
        {
            State.PreconditionFailed => PreconditionOutcome.PreconditionFailed,
            State.NotModified => PreconditionOutcome.NotModified,
            _ => PreconditionOutcome.Proceed,
        };
    }

    /// <summary>
    /// The smallest sets of rules (D1-D4) under which the model predicts <paramref name="ours"/>
    /// exactly, given that it predicts <paramref name="stock"/> with no rule. Empty when the
    /// difference is not explained by the documented rules.
    /// </summary>
    public static IReadOnlyList<DocumentedDifference> Explain(string method, RequestSemantics semantics, FileFacts file, DateTimeOffset now, ResponseSnapshot stock, ResponseSnapshot ours)
    {
        if (!Predict(method, semantics, file, now, DocumentedDifference.None).Matches(stock))
        {
            return [];
        }

        var explanations = new List<DocumentedDifference>();
        for (var size = 1; size <= 4 && explanations.Count == 0; size++)
        {
            for (var mask = 1; mask < 16; mask++)
            {
                if (System.Numerics.BitOperations.PopCount((uint)mask) != size)
                {
                    continue;
                }

                var rules = (DocumentedDifference)mask;
                if (Predict(method, semantics, file, now, rules).Matches(ours))
                {
                    explanations.Add(rules);
                }
            }
        }

        return explanations;
    }

    private static bool TagPresent(TagValue value) => value is not (TagValue.None or TagValue.Garbage);

    private static bool StrongMatch(TagValue value)
        => value is TagValue.Match or TagValue.Star or TagValue.ListWithMatch or TagValue.GarbageThenMatch;

    private static bool WeakMatch(TagValue value) => StrongMatch(value) || value == TagValue.WeakMatch;

    /// <summary>The date a date header stands for, or null when it is absent, invalid or in the future (ignored).</summary>
    private static DateTimeOffset? EffectiveDate(DateValue value, FileFacts file, DateTimeOffset now)
    {
        DateTimeOffset? date = value switch
        {
            DateValue.Exact or DateValue.ExactRfc850 or DateValue.ExactAsctime => file.LastModified,
            DateValue.Earlier => file.LastModified - s_step,
            DateValue.Later => file.LastModified + s_step,
            DateValue.Future => now.AddDays(1),
            _ => null,
        };
        return date <= now ? date : null;
    }

    private static string Asctime(DateTimeOffset date)
    {
        var utc = date.UtcDateTime;
        return string.Create(CultureInfo.InvariantCulture, $"{utc:ddd} {utc:MMM} {utc.Day,2} {utc:HH':'mm':'ss} {utc:yyyy}");
    }
}

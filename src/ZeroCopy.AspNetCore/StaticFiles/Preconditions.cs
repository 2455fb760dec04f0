using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace ZeroCopy.AspNetCore.StaticFiles;

internal enum PreconditionResult : byte
{
    /// <summary>No precondition stops the request: send 200 or 206.</summary>
    Proceed,
    /// <summary>304 Not Modified.</summary>
    NotModified,
    /// <summary>412 Precondition Failed.</summary>
    PreconditionFailed,
}

/// <summary>
/// Conditional request evaluation in the order of RFC 9110 §13.2.2, with the header parsing of
/// stock StaticFileMiddleware (a header whose value does not parse is ignored).
/// </summary>
/// <remarks>
/// Differences from stock, all required by RFC 9110 and listed in the README:
/// If-None-Match uses the weak comparison (§13.1.2) and, when present, If-Modified-Since is ignored
/// (§13.1.3); when If-Match is present, If-Unmodified-Since is ignored (§13.1.4); a false
/// If-Match/If-Unmodified-Since answers 412 and a true If-None-Match answers 304 in that order
/// (stock takes the "largest" of the four states, so a passing If-Match could turn a 304 into a 200).
/// </remarks>
internal static class Preconditions
{
    public static PreconditionResult Evaluate(IHeaderDictionary headers, EntityTagHeaderValue etag, DateTimeOffset lastModified, DateTimeOffset now)
    {
        // §13.2.2 steps 1-2: If-Match, else If-Unmodified-Since.
        if (TryParseTags(headers.IfMatch, out var ifMatch))
        {
            if (!AnyMatches(ifMatch, etag, strong: true))
            {
                return PreconditionResult.PreconditionFailed;
            }
        }
        else if (TryParsePastDate(headers.IfUnmodifiedSince, now, out var ifUnmodifiedSince)
            && lastModified > ifUnmodifiedSince)
        {
            return PreconditionResult.PreconditionFailed;
        }

        // Steps 3-4 (GET and HEAD only reach this class): If-None-Match, else If-Modified-Since.
        if (TryParseTags(headers.IfNoneMatch, out var ifNoneMatch))
        {
            if (AnyMatches(ifNoneMatch, etag, strong: false))
            {
                return PreconditionResult.NotModified;
            }
        }
        else if (TryParsePastDate(headers.IfModifiedSince, now, out var ifModifiedSince)
            && lastModified <= ifModifiedSince)
        {
            return PreconditionResult.NotModified;
        }

        return PreconditionResult.Proceed;
    }

    /// <summary>Parses an entity-tag list; false when absent or when any member does not parse (stock ignores such a header).</summary>
    private static bool TryParseTags(StringValues values, out IList<EntityTagHeaderValue> tags)
    {
        if (StringValues.IsNullOrEmpty(values) || !EntityTagHeaderValue.TryParseList(values, out var parsed) || parsed.Count == 0)
        {
            tags = Array.Empty<EntityTagHeaderValue>();
            return false;
        }

        tags = parsed;
        return true;
    }

    private static bool AnyMatches(IList<EntityTagHeaderValue> tags, EntityTagHeaderValue etag, bool strong)
    {
        for (var i = 0; i < tags.Count; i++)
        {
            var tag = tags[i];
            // "*" matches any current representation, and the file exists.
            if (tag.Equals(EntityTagHeaderValue.Any) || tag.Compare(etag, useStrongComparison: strong))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// An HTTP-date not later than <paramref name="now"/> (stock ignores dates in the future). Several
    /// header lines are joined with commas first, as stock does, which makes them invalid.
    /// </summary>
    internal static bool TryParsePastDate(StringValues values, DateTimeOffset now, out DateTimeOffset date)
    {
        if (StringValues.IsNullOrEmpty(values) || !HeaderUtilities.TryParseDate(values.ToString(), out date))
        {
            date = default;
            return false;
        }

        return date <= now;
    }
}

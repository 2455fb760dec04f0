using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>What the Range and If-Range headers ask of a GET.</summary>
internal readonly record struct RangeSelection(RangeKind Kind, long Start, long Length)
{
    public static readonly RangeSelection Full = new(RangeKind.Full, 0, 0);
    public static readonly RangeSelection Unsatisfiable = new(RangeKind.Unsatisfiable, 0, 0);
}

internal enum RangeKind : byte
{
    /// <summary>Send the whole file (no Range, a Range that does not parse, several ranges, or If-Range false).</summary>
    Full,
    /// <summary>206 with one range.</summary>
    Single,
    /// <summary>416 with <c>Content-Range: bytes */length</c>.</summary>
    Unsatisfiable,
}

/// <summary>
/// Range handling with the semantics of stock StaticFileMiddleware (RFC 9110 §14.2): one
/// <c>bytes</c> range is served as 206; a Range header that does not parse is ignored; several ranges
/// are answered with the full file (multipart answers come in a later version); a range that starts at
/// or after the end, a zero-length suffix, or any range on an empty file is 416. If-Range with a
/// validator that does not match (strong comparison, §13.1.5) turns the request into a full GET.
/// </summary>
internal static class RangeParser
{
    public static RangeSelection Select(IHeaderDictionary headers, long length, DateTimeOffset lastModified, EntityTagHeaderValue etag)
    {
        var range = headers.Range;
        if (StringValues.IsNullOrEmpty(range))
        {
            return RangeSelection.Full;
        }

        if (range.Count > 1 || (range[0] ?? string.Empty).Contains(','))
        {
            return RangeSelection.Full;
        }

        if (!RangeHeaderValue.TryParse(range.ToString(), out var parsed) || parsed.Ranges is not { } ranges)
        {
            return RangeSelection.Full;
        }

        RangeSelection selection;
        if (ranges.Count == 0 || length == 0)
        {
            selection = RangeSelection.Unsatisfiable;
        }
        else
        {
            selection = Normalize(ranges.Single(), length);
        }

        return IfRangeAllows(headers, lastModified, etag) ? selection : RangeSelection.Full;
    }

    /// <summary>Clamps one range to the file; <see cref="RangeSelection.Unsatisfiable"/> when nothing of it exists.</summary>
    internal static RangeSelection Normalize(RangeItemHeaderValue item, long length)
    {
        if (item.From is { } from)
        {
            if (from >= length)
            {
                return RangeSelection.Unsatisfiable;
            }

            var to = item.To is { } end && end < length ? end : length - 1;
            return new RangeSelection(RangeKind.Single, from, to - from + 1);
        }

        if (item.To is { } suffix)
        {
            if (suffix == 0)
            {
                return RangeSelection.Unsatisfiable;
            }

            var count = Math.Min(suffix, length);
            return new RangeSelection(RangeKind.Single, length - count, count);
        }

        return RangeSelection.Unsatisfiable;
    }

    private static bool IfRangeAllows(IHeaderDictionary headers, DateTimeOffset lastModified, EntityTagHeaderValue etag)
    {
        var value = headers.IfRange;
        if (StringValues.IsNullOrEmpty(value) || !RangeConditionHeaderValue.TryParse(value.ToString(), out var condition))
        {
            return true;
        }

        if (condition.LastModified is { } date)
        {
            return lastModified <= date;
        }

        return condition.EntityTag is not { } tag || tag.Compare(etag, useStrongComparison: true);
    }
}

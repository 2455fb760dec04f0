using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>One satisfiable byte range of a file.</summary>
internal readonly record struct ByteRange(long Start, long Length)
{
    public long Last => Start + Length - 1;
}

/// <summary>What the Range and If-Range headers ask of a GET.</summary>
internal readonly record struct RangeSelection(RangeKind Kind, long Start, long Length, ByteRange[]? Parts = null)
{
    public static readonly RangeSelection Full = new(RangeKind.Full, 0, 0);
    public static readonly RangeSelection Unsatisfiable = new(RangeKind.Unsatisfiable, 0, 0);
}

internal enum RangeKind : byte
{
    /// <summary>Send the whole file (no Range, a Range that does not parse, too many ranges, or If-Range false).</summary>
    Full,
    /// <summary>206 with one range.</summary>
    Single,
    /// <summary>206 multipart/byteranges with <see cref="RangeSelection.Parts"/>.</summary>
    Multiple,
    /// <summary>416 with <c>Content-Range: bytes */length</c>.</summary>
    Unsatisfiable,
}

/// <summary>
/// Range handling (RFC 9110 §14.2). One range has exactly stock's semantics: a Range header that
/// does not parse is ignored; a range that starts at or after the end, a zero-length suffix, or any
/// range on an empty file is 416. Several ranges (when <c>MaxRanges</c> allows, else stock's 200):
/// unsatisfiable ones are dropped (416 if none is left), overlapping and adjacent ones are coalesced
/// and ordered, and the whole file is sent instead when more than MaxRanges remain or the requested
/// ranges add up to more than the file (nginx and Apache do the same against range amplification).
/// A header listing more than <see cref="ListFactor"/> × MaxRanges ranges is answered 200 before
/// it is parsed, so the cost of a hostile list is bounded by MaxRanges, not by the header's size
/// (nginx likewise stops at max_ranges).
/// If-Range with a validator that does not match (strong comparison, §13.1.5) turns the request
/// into a full GET.
/// </summary>
internal static class RangeParser
{
    /// <summary>How many ranges a list may name, per allowed part, before it is not parsed at all.</summary>
    internal const int ListFactor = 4;

    public static RangeSelection Select(IHeaderDictionary headers, long length, DateTimeOffset lastModified, EntityTagHeaderValue etag, int maxRanges = 1)
    {
        var range = headers.Range;
        if (StringValues.IsNullOrEmpty(range))
        {
            return RangeSelection.Full;
        }

        var several = range.Count > 1 || (range[0] ?? string.Empty).Contains(',');
        if (several && (maxRanges <= 1 || CountListed(range) > (long)maxRanges * ListFactor))
        {
            return RangeSelection.Full;
        }

        if (!RangeHeaderValue.TryParse(range.ToString(), out var parsed) || parsed.Ranges is not { } ranges)
        {
            return RangeSelection.Full;
        }

        RangeSelection selection;
        if (!several)
        {
            selection = ranges.Count == 0 || length == 0 ? RangeSelection.Unsatisfiable : Normalize(ranges.Single(), length);
        }
        else if (ranges.Count < 2)
        {
            // A list that is really one range ("bytes=0-1,"): stock answers 200, and so do we.
            return RangeSelection.Full;
        }
        else
        {
            selection = SelectSeveral(ranges, length, maxRanges);
        }

        return IfRangeAllows(headers, lastModified, etag) ? selection : RangeSelection.Full;
    }

    /// <summary>Ranges the header lists (commas + 1 per value), counted without parsing.</summary>
    private static long CountListed(StringValues values)
    {
        long count = 0;
        foreach (var value in values)
        {
            count += (value ?? string.Empty).AsSpan().Count(',') + 1;
        }

        return count;
    }

    private static RangeSelection SelectSeveral(ICollection<RangeItemHeaderValue> ranges, long length, int maxRanges)
    {
        if (length == 0)
        {
            return RangeSelection.Unsatisfiable;
        }

        var parts = new List<ByteRange>(Math.Min(ranges.Count, 64));
        long requested = 0;
        foreach (var item in ranges)
        {
            var normalized = Normalize(item, length);
            if (normalized.Kind != RangeKind.Single)
            {
                continue;
            }

            // Written so it cannot overflow, even for files near 2^63 bytes (sparse files).
            if (normalized.Length > length - requested)
            {
                // More bytes than the file: cheaper and safer to send it once.
                return RangeSelection.Full;
            }

            requested += normalized.Length;

            parts.Add(new ByteRange(normalized.Start, normalized.Length));
        }

        if (parts.Count == 0)
        {
            return RangeSelection.Unsatisfiable;
        }

        parts.Sort(static (a, b) => a.Start.CompareTo(b.Start));
        var merged = new List<ByteRange>(parts.Count);
        var current = parts[0];
        for (var i = 1; i < parts.Count; i++)
        {
            var next = parts[i];
            if (next.Start <= current.Last + 1)
            {
                var last = Math.Max(current.Last, next.Last);
                current = new ByteRange(current.Start, last - current.Start + 1);
            }
            else
            {
                merged.Add(current);
                current = next;
            }
        }

        merged.Add(current);
        if (merged.Count > maxRanges)
        {
            return RangeSelection.Full;
        }

        return merged.Count == 1
            ? new RangeSelection(RangeKind.Single, merged[0].Start, merged[0].Length)
            : new RangeSelection(RangeKind.Multiple, 0, 0, [.. merged]);
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

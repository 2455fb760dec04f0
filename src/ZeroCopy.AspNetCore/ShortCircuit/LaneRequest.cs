namespace ZeroCopy.AspNetCore.ShortCircuit;

/// <summary>What the lane does with the request at the start of the buffer.</summary>
internal enum LaneVerdict : byte
{
    /// <summary>A plain GET or HEAD the lane may answer, if the file is hot.</summary>
    Candidate,

    /// <summary>
    /// A head the lane read with certainty that has no body (no Content-Length, no
    /// Transfer-Encoding), so its end is known: Kestrel answers it, and the lane resumes after it.
    /// </summary>
    Forward,

    /// <summary>
    /// Anything the lane cannot read with certainty, or after which the connection may stop being
    /// HTTP/1.1 requests (a body, an upgrade): Kestrel gets the rest of the connection.
    /// </summary>
    PassThrough,
}

/// <summary>Kestrel's request limits the lane stays well inside.</summary>
/// <param name="MaxLine">Longest request line the lane reads (half Kestrel's MaxRequestLineSize).</param>
/// <param name="MaxHead">Longest head the lane reads (half Kestrel's MaxRequestHeadersTotalSize, at most 8 KiB).</param>
/// <param name="MaxFields">Most header fields the lane reads (half Kestrel's MaxRequestHeaderCount).</param>
internal readonly record struct LaneLimits(int MaxLine, int MaxHead, int MaxFields);

/// <summary>
/// One request head, read strictly: the lane answers only what it reads with no doubt, and never
/// disagrees with Kestrel about where a request ends (RFC 9112 §11.2: request smuggling comes from
/// two parsers disagreeing on message boundaries).
/// </summary>
/// <remarks>
/// Certain means: every line ends with CRLF (no bare CR or LF, RFC 9112 §2.2), no obs-fold (§5.2),
/// field names are tokens followed directly by a colon (§5.1), values hold only visible ASCII,
/// space and tab (no NUL, no other control, no obs-text), and the head is within
/// <see cref="LaneLimits"/>. A head with Content-Length or Transfer-Encoding, Upgrade, Expect, a
/// CONNECT, or a version other than HTTP/1.0 and 1.1 passes the rest of the connection to Kestrel.
/// </remarks>
internal ref struct LaneRequest
{
    /// <summary>Bytes of the head, final CRLF CRLF included (0 when incomplete).</summary>
    public int Length;

    public LaneVerdict Verdict;

    public bool IsHead;

    /// <summary>The path of the target (no query), for a candidate.</summary>
    public ReadOnlySpan<byte> Path;

    public ReadOnlySpan<byte> IfNoneMatch;

    public ReadOnlySpan<byte> IfModifiedSince;

    public ReadOnlySpan<byte> AcceptEncoding;

    public bool HasAcceptEncoding;

    /// <summary>
    /// Reads the head at the start of <paramref name="data"/>. False when the head is not complete
    /// within <paramref name="data"/> (and not yet over the limits).
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> data, LaneLimits limits, out LaneRequest request)
    {
        request = default;
        var lineEnd = data.IndexOf((byte)'\n');
        if (lineEnd < 0)
        {
            // Incomplete, unless already longer than the lane reads, or holding a byte no head may.
            if (data.Length >= limits.MaxLine || data.ContainsAnyExcept(HeadBytes.Line))
            {
                request.Verdict = LaneVerdict.PassThrough;
                return true;
            }

            return false;
        }

        if (lineEnd + 1 > limits.MaxLine || lineEnd == 0 || data[lineEnd - 1] != '\r')
        {
            request.Verdict = LaneVerdict.PassThrough;
            return true;
        }

        var verdict = ReadRequestLine(data[..(lineEnd - 1)], ref request);
        if (verdict == LaneVerdict.PassThrough)
        {
            request.Verdict = LaneVerdict.PassThrough;
            return true;
        }

        var position = lineEnd + 1;
        var fields = 0;
        var hosts = 0;
        var candidate = verdict == LaneVerdict.Candidate;
        while (true)
        {
            var rest = data[position..];
            var end = rest.IndexOf((byte)'\n');
            if (end < 0)
            {
                if (position + rest.Length >= limits.MaxHead || rest.ContainsAnyExcept(HeadBytes.Line))
                {
                    request.Verdict = LaneVerdict.PassThrough;
                    return true;
                }

                return false;
            }

            if (position + end + 1 > limits.MaxHead || end == 0 || rest[end - 1] != '\r')
            {
                request.Verdict = LaneVerdict.PassThrough;
                return true;
            }

            var line = rest[..(end - 1)];
            position += end + 1;
            if (line.IsEmpty)
            {
                break;
            }

            if (++fields > limits.MaxFields)
            {
                request.Verdict = LaneVerdict.PassThrough;
                return true;
            }

            var field = ReadField(line, ref request, ref hosts, ref candidate);
            if (field == LaneVerdict.PassThrough)
            {
                request.Verdict = LaneVerdict.PassThrough;
                return true;
            }

            if (field == LaneVerdict.Forward)
            {
                candidate = false;
            }
        }

        request.Length = position;
        // RFC 9112 §3.2: exactly one Host in an HTTP/1.1 request; Kestrel answers 400 otherwise.
        request.Verdict = candidate && hosts == 1 ? LaneVerdict.Candidate : LaneVerdict.Forward;
        return true;
    }

    /// <summary>method SP request-target SP HTTP-version (RFC 9112 §3), single spaces only.</summary>
    private static LaneVerdict ReadRequestLine(ReadOnlySpan<byte> line, ref LaneRequest request)
    {
        var space = line.IndexOf((byte)' ');
        if (space <= 0)
        {
            return LaneVerdict.PassThrough;
        }

        var method = line[..space];
        if (method.ContainsAnyExcept(HeadBytes.Token) || method.SequenceEqual("CONNECT"u8))
        {
            // CONNECT turns the connection into a tunnel when it succeeds.
            return LaneVerdict.PassThrough;
        }

        var afterMethod = line[(space + 1)..];
        var second = afterMethod.IndexOf((byte)' ');
        if (second <= 0)
        {
            return LaneVerdict.PassThrough;
        }

        var target = afterMethod[..second];
        var version = afterMethod[(second + 1)..];
        if (target.ContainsAnyExcept(HeadBytes.Visible))
        {
            return LaneVerdict.PassThrough;
        }

        var http11 = version.SequenceEqual("HTTP/1.1"u8);
        if (!http11 && !version.SequenceEqual("HTTP/1.0"u8))
        {
            return LaneVerdict.PassThrough;
        }

        request.IsHead = method.SequenceEqual("HEAD"u8);
        if (!http11 || !(request.IsHead || method.SequenceEqual("GET"u8)))
        {
            return LaneVerdict.Forward;
        }

        var query = target.IndexOf((byte)'?');
        var path = query < 0 ? target : target[..query];
        if (!IsPlainPath(path) || (query >= 0 && target[(query + 1)..].ContainsAnyExcept(HeadBytes.Query)))
        {
            return LaneVerdict.Forward;
        }

        request.Path = path;
        return LaneVerdict.Candidate;
    }

    /// <summary>
    /// An origin-form path Kestrel hands the application unchanged: no percent-encoding to decode,
    /// no dot-segment to remove (RFC 3986 §5.2.4), no empty segment.
    /// </summary>
    private static bool IsPlainPath(ReadOnlySpan<byte> path)
    {
        if (path.IsEmpty || path[0] != '/' || path.ContainsAnyExcept(HeadBytes.Path))
        {
            return false;
        }

        var segments = path[1..];
        while (true)
        {
            var slash = segments.IndexOf((byte)'/');
            var segment = slash < 0 ? segments : segments[..slash];
            if ((segment.IsEmpty && slash >= 0) || segment.SequenceEqual("."u8) || segment.SequenceEqual(".."u8))
            {
                return false;
            }

            if (slash < 0)
            {
                return true;
            }

            segments = segments[(slash + 1)..];
        }
    }

    /// <summary>field-name ":" OWS field-value OWS (RFC 9112 §5).</summary>
    private static LaneVerdict ReadField(ReadOnlySpan<byte> line, ref LaneRequest request, ref int hosts, ref bool candidate)
    {
        var colon = line.IndexOf((byte)':');
        // A line starting with whitespace is obs-fold (§5.2); whitespace before the colon is refused (§5.1).
        if (colon <= 0 || line[..colon].ContainsAnyExcept(HeadBytes.Token))
        {
            return LaneVerdict.PassThrough;
        }

        var name = line[..colon];
        var value = line[(colon + 1)..];
        if (value.ContainsAnyExcept(HeadBytes.Value))
        {
            return LaneVerdict.PassThrough;
        }

        value = value.Trim(" \t"u8);
        if (Is(name, "content-length"u8) || Is(name, "transfer-encoding"u8) || Is(name, "upgrade"u8) || Is(name, "expect"u8))
        {
            // A body, or a connection that may stop being HTTP/1.1 requests after this one.
            return LaneVerdict.PassThrough;
        }

        if (Is(name, "host"u8))
        {
            hosts++;
            return IsPlainHost(value) ? LaneVerdict.Candidate : LaneVerdict.Forward;
        }

        if (Is(name, "connection"u8))
        {
            // Keep-alive is HTTP/1.1's default; close ends the connection after Kestrel's answer;
            // anything else (upgrade, a list) is not read further.
            return Is(value, "keep-alive"u8) ? LaneVerdict.Candidate
                : Is(value, "close"u8) ? LaneVerdict.Forward
                : LaneVerdict.PassThrough;
        }

        if (Is(name, "if-none-match"u8))
        {
            return Once(ref request.IfNoneMatch, value);
        }

        if (Is(name, "if-modified-since"u8))
        {
            return Once(ref request.IfModifiedSince, value);
        }

        if (Is(name, "accept-encoding"u8))
        {
            if (request.HasAcceptEncoding)
            {
                return LaneVerdict.Forward;
            }

            request.HasAcceptEncoding = true;
            request.AcceptEncoding = value;
            return LaneVerdict.Candidate;
        }

        // Ranges and the preconditions answered with 412 are left to the middleware behind Kestrel.
        if (Is(name, "range"u8) || Is(name, "if-range"u8) || Is(name, "if-match"u8) || Is(name, "if-unmodified-since"u8))
        {
            return LaneVerdict.Forward;
        }

        return LaneVerdict.Candidate;
    }

    /// <summary>A conditional header seen once with a value; a repeated or empty one is left to the middleware.</summary>
    private static LaneVerdict Once(ref ReadOnlySpan<byte> slot, ReadOnlySpan<byte> value)
    {
        if (!slot.IsEmpty || value.IsEmpty)
        {
            return LaneVerdict.Forward;
        }

        slot = value;
        return LaneVerdict.Candidate;
    }

    /// <summary>reg-name or IPv4 with an optional port (RFC 9110 §7.2); IP literals are left to Kestrel.</summary>
    private static bool IsPlainHost(ReadOnlySpan<byte> host)
    {
        var colon = host.IndexOf((byte)':');
        var name = colon < 0 ? host : host[..colon];
        if (name.IsEmpty || name.ContainsAnyExcept(HeadBytes.HostName))
        {
            return false;
        }

        if (colon < 0)
        {
            return true;
        }

        var port = host[(colon + 1)..];
        return port.Length is > 0 and <= 5 && !port.ContainsAnyExceptInRange((byte)'0', (byte)'9');
    }

    private static bool Is(ReadOnlySpan<byte> name, ReadOnlySpan<byte> lowerCase)
        => System.Text.Ascii.EqualsIgnoreCase(name, lowerCase);
}

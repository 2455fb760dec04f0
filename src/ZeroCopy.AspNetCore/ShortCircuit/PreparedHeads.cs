using System.Globalization;
using System.Text;
using ZeroCopy.AspNetCore.Files;

namespace ZeroCopy.AspNetCore.ShortCircuit;

/// <summary>
/// The response heads of one cached file version, as Kestrel writes the middleware's headers:
/// status line, then the known headers in Kestrel's fixed order (Content-Length, Content-Type, Date,
/// Server, Accept-Ranges, Cache-Control, Content-Encoding, ETag, Last-Modified, Vary), which does not
/// depend on the order the middleware sets them in. Only <c>Date</c> is written per response.
/// </summary>
/// <remarks>
/// The order was read from Kestrel's output and is pinned by the lane-on/lane-off differential
/// tests: a Kestrel that writes them differently fails those tests, not users.
/// </remarks>
internal sealed class PreparedHeads
{
    // 200 and 304, each without and with Vary.
    private readonly PreparedHead?[] _heads = new PreparedHead?[4];

    /// <summary>The head for <paramref name="notModified"/> and <paramref name="vary"/>, built on first use; null when a value is not ASCII (Kestrel would refuse it).</summary>
    public static PreparedHead? For(IHeldFile held, bool notModified, bool vary, bool serverHeader)
    {
        if (held.PreparedHeads is not PreparedHeads heads)
        {
            heads = new PreparedHeads();
            // Racing builders produce equal heads; either may win.
            held.PreparedHeads = heads;
        }

        var index = (notModified ? 2 : 0) + (vary ? 1 : 0);
        return heads._heads[index] ??= Build(held.Version, held.CacheControl, notModified, vary, serverHeader);
    }

    private static PreparedHead? Build(FileVersion version, string? cacheControl, bool notModified, bool vary, bool serverHeader)
    {
        var before = new StringBuilder(notModified ? "HTTP/1.1 304 Not Modified\r\n" : "HTTP/1.1 200 OK\r\n");
        if (!notModified)
        {
            before.Append(CultureInfo.InvariantCulture, $"Content-Length: {version.Length}\r\n");
        }

        Line(before, "Content-Type", string.IsNullOrEmpty(version.ContentType) ? null : version.ContentType);
        var after = new StringBuilder();
        if (serverHeader)
        {
            after.Append("Server: Kestrel\r\n");
        }

        after.Append("Accept-Ranges: bytes\r\n");
        Line(after, "Cache-Control", cacheControl);
        Line(after, "Content-Encoding", notModified ? null : version.ContentEncoding);
        Line(after, "ETag", version.ETagText);
        Line(after, "Last-Modified", version.LastModifiedText);
        Line(after, "Vary", vary ? "Accept-Encoding" : null);
        after.Append("\r\n");

        var text = before.ToString() + after.ToString();
        if (!Ascii.IsValid(text))
        {
            return null;
        }

        return new PreparedHead(Encoding.ASCII.GetBytes(text), before.Length);
    }

    private static void Line(StringBuilder head, string name, string? value)
    {
        if (value is not null)
        {
            head.Append(name).Append(": ").Append(value).Append("\r\n");
        }
    }
}

/// <summary>A response head without its Date line, which goes at <see cref="DateAt"/>.</summary>
internal sealed record PreparedHead(byte[] Bytes, int DateAt);

/// <summary>Kestrel's Date header line (RFC 9110 §6.6.1, IMF-fixdate), rebuilt once a second.</summary>
internal static class DateLine
{
    public const int Length = 37; // "Date: " + 29 + CRLF

    private static byte[] s_line = new byte[Length];
    private static long s_second = -1;

    public static ReadOnlySpan<byte> Current
    {
        get
        {
            var now = DateTimeOffset.UtcNow;
            var second = now.UtcTicks / TimeSpan.TicksPerSecond;
            if (second != Volatile.Read(ref s_second))
            {
                var line = new byte[Length];
                "Date: "u8.CopyTo(line);
                Encoding.ASCII.GetBytes(now.ToString("r", CultureInfo.InvariantCulture), line.AsSpan(6));
                line[Length - 2] = (byte)'\r';
                line[Length - 1] = (byte)'\n';
                // The array is published before the second that names it.
                Volatile.Write(ref s_line, line);
                Volatile.Write(ref s_second, second);
                return line;
            }

            return Volatile.Read(ref s_line);
        }
    }
}

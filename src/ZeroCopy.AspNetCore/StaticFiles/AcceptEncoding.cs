using System.Globalization;
using Microsoft.Extensions.Primitives;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>
/// The qualities an Accept-Encoding header gives to the precompressed encodings, identity and
/// "*" (RFC 9110 §12.5.3), parsed without allocating. A member that does not parse is skipped.
/// </summary>
internal struct AcceptEncoding
{
    private const int Unspecified = -1;

    private int _br;
    private int _gzip;
    private int _zstd;
    private int _identity;
    private int _star;

    /// <summary>True when the request had an Accept-Encoding header.</summary>
    public bool Present { get; private set; }

    public static AcceptEncoding Parse(StringValues values)
    {
        var result = new AcceptEncoding { _br = Unspecified, _gzip = Unspecified, _zstd = Unspecified, _identity = Unspecified, _star = Unspecified };
        foreach (var value in values)
        {
            if (value is null)
            {
                continue;
            }

            result.Present = true;
            foreach (var member in value.AsSpan().Split(','))
            {
                result.Add(value.AsSpan()[member].Trim());
            }
        }

        return result;
    }

    private void Add(ReadOnlySpan<char> member)
    {
        if (member.IsEmpty)
        {
            return;
        }

        var semicolon = member.IndexOf(';');
        var name = (semicolon < 0 ? member : member[..semicolon]).Trim();
        // Quality in thousandths: q=1 → 1000, absent → 1000, malformed → member ignored.
        var quality = 1000;
        if (semicolon >= 0)
        {
            var parameters = member[(semicolon + 1)..].Trim();
            if (!parameters.StartsWith("q=", StringComparison.OrdinalIgnoreCase)
                || !double.TryParse(parameters[2..].Trim(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var q)
                || q is < 0 or > 1)
            {
                return;
            }

            quality = (int)Math.Round(q * 1000);
        }

        if (name.Equals("br", StringComparison.OrdinalIgnoreCase))
        {
            _br = quality;
        }
        else if (name.Equals("gzip", StringComparison.OrdinalIgnoreCase) || name.Equals("x-gzip", StringComparison.OrdinalIgnoreCase))
        {
            _gzip = quality;
        }
        else if (name.Equals("zstd", StringComparison.OrdinalIgnoreCase))
        {
            _zstd = quality;
        }
        else if (name.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            _identity = quality;
        }
        else if (name.SequenceEqual("*"))
        {
            _star = quality;
        }
    }

    /// <summary>Quality (0..1000) of a content coding; an unlisted one takes "*"'s, else 0.</summary>
    public readonly int Quality(string encoding)
    {
        var listed = encoding switch
        {
            "br" => _br,
            "gzip" => _gzip,
            "zstd" => _zstd,
            _ => Unspecified,
        };
        return listed != Unspecified ? listed : _star != Unspecified ? _star : 0;
    }

    /// <summary>
    /// Quality of the identity coding: acceptable by default unless excluded by "identity;q=0" or by
    /// "*;q=0" without an identity member.
    /// </summary>
    public readonly int IdentityQuality
        => _identity != Unspecified ? _identity : _star == 0 ? 0 : 1000;
}

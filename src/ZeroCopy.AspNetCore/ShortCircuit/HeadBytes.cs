using System.Buffers;

namespace ZeroCopy.AspNetCore.ShortCircuit;

/// <summary>The byte classes of a request head the lane accepts (RFC 9110 §5.6.2, RFC 3986 §3.3).</summary>
internal static class HeadBytes
{
    /// <summary>tchar: the characters of a method or a field name.</summary>
    public static readonly SearchValues<byte> Token = SearchValues.Create(
        "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    /// <summary>Visible ASCII (VCHAR).</summary>
    public static readonly SearchValues<byte> Visible = SearchValues.Create(Range(0x21, 0x7E));

    /// <summary>A field value: VCHAR, space and tab; no obs-text, no control character.</summary>
    public static readonly SearchValues<byte> Value = SearchValues.Create([.. Range(0x21, 0x7E), (byte)' ', (byte)'\t']);

    /// <summary>Any byte of a well-formed head line but its CRLF: what an incomplete head may hold.</summary>
    public static readonly SearchValues<byte> Line = SearchValues.Create([.. Range(0x21, 0x7E), (byte)' ', (byte)'\t', (byte)'\r']);

    /// <summary>
    /// Path characters Kestrel passes through unchanged: unreserved, sub-delims, ':', '@' and '/'.
    /// No '%': a percent-encoded path is decoded by Kestrel, and the lane does not decode.
    /// </summary>
    public static readonly SearchValues<byte> Path = SearchValues.Create(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/"u8);

    /// <summary>Query characters the lane accepts (the path's, '?' and '%'); the query does not select the file.</summary>
    public static readonly SearchValues<byte> Query = SearchValues.Create(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/?%"u8);

    /// <summary>A reg-name or IPv4 address without percent-encoding.</summary>
    public static readonly SearchValues<byte> HostName = SearchValues.Create(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-."u8);

    private static byte[] Range(int first, int last)
    {
        var bytes = new byte[last - first + 1];
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)(first + i);
        }

        return bytes;
    }
}

using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>Request text and response normalisation for <see cref="WireClient"/>.</summary>
public static class Wire
{
    /// <summary>A request line, <c>Host: localhost</c>, the given header lines and the empty line.</summary>
    public static string Request(string method, string target, params string[] headers) => RequestTo("localhost", method, target, headers);

    /// <summary>A request line, a Host header, the given header lines and the empty line.</summary>
    public static string RequestTo(string host, string method, string target, params string[] headers)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
        foreach (var header in headers)
        {
            sb.Append(header).Append("\r\n");
        }

        return sb.Append("\r\n").ToString();
    }

    public static string Get(string target, params string[] headers) => Request("GET", target, headers);

    public static string WithoutDate(string head)
        => string.Join("\r\n", head.Split("\r\n").Where(l => !l.StartsWith("Date:", StringComparison.OrdinalIgnoreCase)));

    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>Cancelled after <paramref name="timeout"/> or with the test.</summary>
    public static CancellationTokenSource Timeout(TimeSpan timeout)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout);
        return cts;
    }
}

using System.Globalization;
using System.Text;

namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>One HTTP/1.x response as it came off the wire (<see cref="Body"/> empty when only the head was read).</summary>
public sealed record WireResponse(int Status, string Reason, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body, string Head)
{
    public string? Header(string name)
        => Headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

    /// <summary>The Content-Length header; -1 without one.</summary>
    public long ContentLength => long.Parse(Header("Content-Length") ?? "-1", CultureInfo.InvariantCulture);

    /// <summary>Status line and headers without the Date header (which differs from run to run).</summary>
    public string NormalizedHead => Wire.WithoutDate(Head);

    /// <summary>Everything but the Date header; what two transports must agree on byte for byte.</summary>
    public string Normalized => NormalizedHead + "\n<body " + Body.Length.ToString(CultureInfo.InvariantCulture) + " bytes, sha256 " + Wire.Sha256(Body) + ">";

    public string BodyText => Encoding.UTF8.GetString(Body);

    public override string ToString() => $"{Status} " + string.Join("; ", Headers.Select(h => h.Key + ": " + h.Value));
}

/// <summary>How a connection ended, as the client saw it.</summary>
public enum CloseKind
{
    /// <summary>Orderly end: a read returned 0 (the server sent FIN).</summary>
    Fin,

    /// <summary>A read failed with ECONNRESET (the server sent RST).</summary>
    Reset,

    /// <summary>Still open when the wait ended.</summary>
    StillOpen,
}

/// <summary>End-of-connection observation: the bytes that arrived and how the stream ended.</summary>
public sealed record WireEnd(byte[] Data, CloseKind Kind)
{
    public override string ToString() => $"{Kind} after {Data.Length} byte(s)";
}

/// <summary>How a streamed body read ended.</summary>
public enum BodyEnd
{
    /// <summary>Exactly the requested bytes arrived.</summary>
    Complete,

    /// <summary>The server closed the connection (FIN) first.</summary>
    Fin,

    /// <summary>The server reset the connection first.</summary>
    Reset,

    /// <summary>Nothing arrived for the idle timeout: a hang.</summary>
    Hang,

    /// <summary>The reader stopped on purpose (a stop offset was given).</summary>
    Stopped,
}

public readonly record struct BodyRead(long Bytes, BodyEnd End)
{
    public override string ToString() => $"{End} after {Bytes} body byte(s)";
}

/// <summary>Receives body chunks in order.</summary>
public delegate void BodySink(ReadOnlySpan<byte> chunk);

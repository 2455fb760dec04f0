using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Win32.SafeHandles;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>
/// "The next <see cref="Count"/> bytes of the output are bytes of <see cref="File"/> from
/// <see cref="Offset"/>": what the send loop sends with sendfile/splice instead of pipe bytes.
/// </summary>
/// <remarks>
/// The region owns <see cref="File"/> from the moment it is handed to the connection: the transport
/// closes it after the bytes left (or the connection died), which may be long after the request
/// that produced it completed.
/// </remarks>
internal sealed class FileRegion : IDisposable
{
    public FileRegion(SafeFileHandle file, long offset, long count, ZeroCopyMode mode, MinDataRate? minDataRate, string? path)
    {
        File = file;
        Offset = offset;
        Count = count;
        Mode = mode;
        MinDataRate = minDataRate;
        Path = path;
    }

    public SafeFileHandle File { get; }

    public long Offset { get; }

    public long Count { get; }

    /// <summary>SendFile, Splice or Auto.</summary>
    public ZeroCopyMode Mode { get; }

    /// <summary>Kestrel's minimum response data rate for the request (null: not enforced).</summary>
    public MinDataRate? MinDataRate { get; }

    /// <summary>The strategy metrics count the response under when it is sent as intended (hot-cache for snapshots); null: the engine used.</summary>
    public Diagnostics.ResponseStrategy? CountAs { get; init; }

    /// <summary>For logs.</summary>
    public string? Path { get; }

    /// <summary>Byte position in the connection's output stream where the region starts.</summary>
    public long Position { get; set; }

    public void Dispose() => File.Dispose();
}

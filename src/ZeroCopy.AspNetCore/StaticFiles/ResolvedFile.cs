using System.Globalization;
using Microsoft.Extensions.FileProviders;
using Microsoft.Net.Http.Headers;
using Microsoft.Win32.SafeHandles;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>
/// A file found for a request: its validators and, on Linux for physical files, the open descriptor
/// the validators were read from, so the bytes sent are the bytes described.
/// </summary>
internal sealed class ResolvedFile : IDisposable
{
    public ResolvedFile(IFileInfo info, SafeFileHandle? handle, long length, DateTimeOffset lastWriteTimeUtc)
    {
        Info = info;
        Handle = handle;
        Length = length;
        // Truncated to the second, as HTTP dates are, and as stock does before computing the ETag.
        LastModified = new DateTimeOffset(
            lastWriteTimeUtc.Year, lastWriteTimeUtc.Month, lastWriteTimeUtc.Day,
            lastWriteTimeUtc.Hour, lastWriteTimeUtc.Minute, lastWriteTimeUtc.Second,
            lastWriteTimeUtc.Offset).ToUniversalTime();
        ETag = new EntityTagHeaderValue(StockETag(LastModified, length));
    }

    public IFileInfo Info { get; }

    /// <summary>Open descriptor (Linux, physical files), or null: then the file is opened when the body is sent.</summary>
    public SafeFileHandle? Handle { get; private set; }

    public long Length { get; }

    public DateTimeOffset LastModified { get; }

    public EntityTagHeaderValue ETag { get; }

    public string? PhysicalPath => string.IsNullOrEmpty(Info.PhysicalPath) ? null : Info.PhysicalPath;

    /// <summary>
    /// The ETag stock StaticFileMiddleware produces: the hexadecimal of
    /// (Last-Modified as a Windows file time) XOR length, quoted.
    /// </summary>
    internal static string StockETag(DateTimeOffset lastModified, long length)
        => "\"" + (lastModified.ToFileTime() ^ length).ToString("x", CultureInfo.InvariantCulture) + "\"";

    /// <summary>Gives up ownership of <see cref="Handle"/> (the transport took it).</summary>
    public static readonly Action<object> DetachHandle = static state => ((ResolvedFile)state).Handle = null;

    public void Dispose()
    {
        Handle?.Dispose();
        Handle = null;
    }
}

using System.Globalization;
using Microsoft.Extensions.FileProviders;
using Microsoft.Net.Http.Headers;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Files;

/// <summary>
/// One version of a file as a response describes it: length and validators computed once (with
/// their header strings), plus the identity (inode, device, size, mtime) that revalidation compares.
/// Immutable.
/// </summary>
internal sealed class FileVersion
{
    /// <param name="info">The provider's description (for OnPrepareResponse and CreateReadStream).</param>
    /// <param name="contentType">The Content-Type (of the original file, also for a precompressed sibling).</param>
    /// <param name="length">Length of the bytes to send.</param>
    /// <param name="lastWriteTimeUtc">Modification time.</param>
    /// <param name="identity">What fstat said (Linux), for revalidation.</param>
    /// <param name="contentEncoding">The Content-Encoding of a precompressed sibling, else null.</param>
    /// <param name="etag">An ETag computed elsewhere (content hash), else null for stock's.</param>
    public FileVersion(IFileInfo info, string? contentType, long length, DateTimeOffset lastWriteTimeUtc, FileStatus? identity, string? contentEncoding = null, string? etag = null)
    {
        Info = info;
        ContentType = contentType;
        ContentEncoding = contentEncoding;
        Length = length;
        Identity = identity;
        // Truncated to the second, as HTTP dates are, and as stock does before computing the ETag.
        LastModified = new DateTimeOffset(
            lastWriteTimeUtc.Year, lastWriteTimeUtc.Month, lastWriteTimeUtc.Day,
            lastWriteTimeUtc.Hour, lastWriteTimeUtc.Minute, lastWriteTimeUtc.Second,
            lastWriteTimeUtc.Offset).ToUniversalTime();
        // A precompressed sibling gets an ETag of its own (RFC 9110 §8.8.3: validators differ between
        // representations), so a cache never matches a br body against a gzip one.
        ETagText = etag ?? (contentEncoding is null ? StockETag(LastModified, length) : StockETag(LastModified, length, contentEncoding));
        ETag = new EntityTagHeaderValue(ETagText);
        LastModifiedText = HeaderUtilities.FormatDate(LastModified);
        PhysicalPath = string.IsNullOrEmpty(info.PhysicalPath) ? null : info.PhysicalPath;
        ObservedAt = System.Diagnostics.Stopwatch.GetTimestamp();
    }

    /// <summary>
    /// Stopwatch timestamp of when this version was read from the file system. A cache entry built
    /// from it is fresh from then on, not from when it was admitted: a request that opened the file
    /// long ago (a starved thread) must not re-publish an old version as fresh.
    /// </summary>
    public long ObservedAt { get; }

    public IFileInfo Info { get; }

    public string? ContentType { get; }

    /// <summary>br, gzip or zstd for a precompressed sibling; null for the file itself.</summary>
    public string? ContentEncoding { get; }

    public long Length { get; }

    public DateTimeOffset LastModified { get; }

    public EntityTagHeaderValue ETag { get; }

    public string ETagText { get; }

    public string LastModifiedText { get; }

    public string? PhysicalPath { get; }

    /// <summary>What fstat said when the file was opened (Linux); null for non-physical files.</summary>
    public FileStatus? Identity { get; }

    /// <summary>
    /// The ETag stock StaticFileMiddleware produces: the hexadecimal of
    /// (Last-Modified as a Windows file time) XOR length, quoted.
    /// </summary>
    internal static string StockETag(DateTimeOffset lastModified, long length)
        => "\"" + (lastModified.ToFileTime() ^ length).ToString("x", CultureInfo.InvariantCulture) + "\"";

    /// <summary>Stock's ETag with the content coding appended inside the quotes.</summary>
    internal static string StockETag(DateTimeOffset lastModified, long length, string contentEncoding)
        => "\"" + (lastModified.ToFileTime() ^ length).ToString("x", CultureInfo.InvariantCulture) + "-" + contentEncoding + "\"";

    /// <summary>Same inode, device, size and modification time (to the nanosecond).</summary>
    public bool IsSameFile(in FileStatus status) => Identity is { } identity && identity.IsSameVersion(status);
}

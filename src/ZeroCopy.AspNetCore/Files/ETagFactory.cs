using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.FileProviders;
using Microsoft.Win32.SafeHandles;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Files;

/// <summary>
/// Describes file versions: the stock validators, or (<see cref="ETagMode.ContentHash"/>) an ETag
/// that is the SHA-256 of the bytes, computed once per version (inode, size, mtime) and kept, or
/// taken from a MapStaticAssets build manifest when the file still matches it.
/// </summary>
internal sealed class ETagFactory
{
    private const int MaxRemembered = 50_000;

    private readonly ETagMode _mode;
    private readonly Dictionary<string, ManifestEntry>? _manifest;
    private readonly ConcurrentDictionary<(ulong Inode, uint Major, uint Minor, long Size, long Seconds, uint Nanoseconds), string> _hashes = new();

    private sealed record ManifestEntry(string ETag, long Length, DateTimeOffset LastModified);

    public ETagFactory(ETagMode mode, string? manifestPath)
    {
        _mode = mode;
        if (mode == ETagMode.ContentHash && manifestPath is not null)
        {
            _manifest = ReadManifest(manifestPath);
        }
    }

    public ETagMode Mode => _mode;

    /// <summary>The version of an open file (Linux): validators from fstat, ETag by mode.</summary>
    public FileVersion Describe(IFileInfo info, string filePath, string? contentType, string? contentEncoding, in FileStatus status, SafeFileHandle handle)
    {
        string? etag = null;
        if (_mode == ETagMode.ContentHash)
        {
            etag = FromManifest(filePath, status) ?? Hash(status, handle);
        }

        return new FileVersion(info, contentType, status.Size, status.LastWriteTimeUtc, status, contentEncoding, etag);
    }

    /// <summary>The version of a file known only through its provider (non-physical, or not Linux).</summary>
    public FileVersion Describe(IFileInfo info, string? contentType, string? contentEncoding)
    {
        string? etag = null;
        if (_mode == ETagMode.ContentHash && !info.IsDirectory)
        {
            using var stream = info.CreateReadStream();
            etag = Quote(SHA256.HashData(stream));
        }

        return new FileVersion(info, contentType, info.Length, info.LastModified, identity: null, contentEncoding, etag);
    }

    private string Hash(in FileStatus status, SafeFileHandle handle)
    {
        var key = (status.Inode, status.DeviceMajor, status.DeviceMinor, status.Size, status.MTimeSeconds, status.MTimeNanoseconds);
        if (_hashes.TryGetValue(key, out var known))
        {
            return known;
        }

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(128 * 1024);
        try
        {
            long offset = 0;
            while (offset < status.Size)
            {
                var read = RandomAccess.Read(handle, buffer.AsSpan(0, (int)Math.Min(buffer.Length, status.Size - offset)), offset);
                if (read == 0)
                {
                    break;
                }

                hash.AppendData(buffer, 0, read);
                offset += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        var etag = Quote(hash.GetHashAndReset());
        if (_hashes.Count >= MaxRemembered)
        {
            _hashes.Clear();
        }

        _hashes[key] = etag;
        return etag;
    }

    /// <summary>The format of MapStaticAssets: the base64 SHA-256 in quotes.</summary>
    private static string Quote(byte[] sha256) => "\"" + Convert.ToBase64String(sha256) + "\"";

    private string? FromManifest(string filePath, in FileStatus status)
    {
        if (_manifest is null || !_manifest.TryGetValue(filePath.TrimStart('/'), out var entry))
        {
            return null;
        }

        // Only while the file is still the one the build hashed.
        var lastModified = status.LastWriteTimeUtc;
        var truncated = new DateTimeOffset(lastModified.Year, lastModified.Month, lastModified.Day, lastModified.Hour, lastModified.Minute, lastModified.Second, TimeSpan.Zero);
        return entry.Length == status.Size && entry.LastModified == truncated ? entry.ETag : null;
    }

    /// <summary>
    /// Reads the endpoints of a <c>*.staticwebassets.endpoints.json</c> manifest that have no
    /// selector (the uncompressed asset) and carry ETag, Content-Length and Last-Modified headers.
    /// </summary>
    private static Dictionary<string, ManifestEntry> ReadManifest(string path)
    {
        var entries = new Dictionary<string, ManifestEntry>(StringComparer.Ordinal);
        using var stream = File.OpenRead(path);
        using var document = JsonDocument.Parse(stream);
        if (!document.RootElement.TryGetProperty("Endpoints", out var endpoints) || endpoints.ValueKind != JsonValueKind.Array)
        {
            return entries;
        }

        foreach (var endpoint in endpoints.EnumerateArray())
        {
            if (endpoint.TryGetProperty("Selectors", out var selectors) && selectors.ValueKind == JsonValueKind.Array && selectors.GetArrayLength() > 0)
            {
                continue;
            }

            if (!endpoint.TryGetProperty("AssetFile", out var assetFile) || !endpoint.TryGetProperty("ResponseHeaders", out var headers))
            {
                continue;
            }

            string? etag = null;
            long? length = null;
            DateTimeOffset? lastModified = null;
            foreach (var header in headers.EnumerateArray())
            {
                var name = header.GetProperty("Name").GetString();
                var value = header.GetProperty("Value").GetString();
                if (string.Equals(name, "ETag", StringComparison.OrdinalIgnoreCase))
                {
                    etag = value;
                }
                else if (string.Equals(name, "Content-Length", StringComparison.OrdinalIgnoreCase) && long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed))
                {
                    length = parsed;
                }
                else if (string.Equals(name, "Last-Modified", StringComparison.OrdinalIgnoreCase) && Microsoft.Net.Http.Headers.HeaderUtilities.TryParseDate(value, out var date))
                {
                    lastModified = date;
                }
            }

            if (etag is not null && length is { } l && lastModified is { } m && assetFile.GetString() is { } file)
            {
                entries.TryAdd(file.Replace('\\', '/'), new ManifestEntry(etag, l, m));
            }
        }

        return entries;
    }
}

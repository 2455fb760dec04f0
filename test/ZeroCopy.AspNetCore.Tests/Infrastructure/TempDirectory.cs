using System.Security.Cryptography;

namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>A fresh directory under the system temp folder, deleted on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string? prefix = null)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix ?? "zc"}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(string relative) => System.IO.Path.Combine(Path, relative.TrimStart('/'));

    /// <summary>Writes <paramref name="content"/> at <paramref name="relative"/>, creating folders.</summary>
    public string Write(string relative, byte[] content)
    {
        var full = Combine(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, content);
        return full;
    }

    public string Write(string relative, string content) => Write(relative, System.Text.Encoding.UTF8.GetBytes(content));

    /// <summary>Writes <paramref name="length"/> deterministic pseudo-random bytes.</summary>
    public string WriteRandom(string relative, long length, int seed = 1)
    {
        var full = Combine(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        using var stream = new FileStream(full, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        var random = new Random(seed);
        var buffer = new byte[(int)Math.Min(length, 1 << 20)];
        var remaining = length;
        while (remaining > 0)
        {
            random.NextBytes(buffer);
            var n = (int)Math.Min(buffer.Length, remaining);
            stream.Write(buffer, 0, n);
            remaining -= n;
        }

        return full;
    }

    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    public static string Sha256File(string path, long offset = 0, long? count = null)
    {
        using var stream = File.OpenRead(path);
        stream.Seek(offset, SeekOrigin.Begin);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        var remaining = count ?? (stream.Length - offset);
        while (remaining > 0)
        {
            var n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, remaining));
            if (n == 0)
            {
                break;
            }

            hash.AppendData(buffer, 0, n);
            remaining -= n;
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

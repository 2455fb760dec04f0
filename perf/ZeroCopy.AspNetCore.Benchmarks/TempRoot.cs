using System.Security.Cryptography;

namespace ZeroCopy.AspNetCore.Benchmarks;

/// <summary>A temporary folder with the files the benchmarks request.</summary>
public sealed class TempRoot : IDisposable
{
    public const string FilePath = "/css/site.css";
    public const string DeepFilePath = "/assets/v1/img/icons/logo.svg";
    public const int FileLength = 4096;

    public TempRoot()
    {
        Path = Directory.CreateTempSubdirectory("zcbench-").FullName;
        Write(FilePath, FileLength);
        Write(DeepFilePath, FileLength);
    }

    public string Path { get; }

    public string PhysicalPath(string urlPath) => System.IO.Path.Combine(Path, urlPath.TrimStart('/'));

    private void Write(string urlPath, int length)
    {
        var full = PhysicalPath(urlPath);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, RandomNumberGenerator.GetBytes(length));
        // A fixed time, so ETag and Last-Modified are the same in every run.
        File.SetLastWriteTimeUtc(full, new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc));
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

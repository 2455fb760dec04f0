using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>One generated file: its URL path, length and SHA-256.</summary>
internal sealed record ServedFile(string UrlPath, long Length, byte[] Sha256);

/// <summary>
/// The file set every server serves, generated with a fixed seed under a temporary root:
/// 0 B, 4 KiB, 64 KiB (hot), 1 MiB, 64 MiB, and <see cref="SmallCount"/> files of 2-16 KiB in
/// folders of 100 for the many-small-files (cache-miss) workload.
/// </summary>
/// <remarks>
/// Each small file starts with <c>zcperf LLLLLLLL IIII\n</c> (its own length and index) so that
/// load.lua can check every response's length without knowing which path it asked for.
/// Permissions are set explicitly (directories 0755, files 0644): nginx's workers run as nobody.
/// </remarks>
internal sealed class FileSet
{
    public const int SmallCount = 10_000;
    private const int Seed = 20261124;
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
    private const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private FileSet(string root, Dictionary<string, ServedFile> fixedFiles, ServedFile[] small)
    {
        Root = root;
        Fixed = fixedFiles;
        Small = small;
    }

    public string Root { get; }

    /// <summary>The single-path files by URL path.</summary>
    public IReadOnlyDictionary<string, ServedFile> Fixed { get; }

    /// <summary>The small files, by index.</summary>
    public IReadOnlyList<ServedFile> Small { get; }

    public long TotalBytes => Fixed.Values.Sum(f => f.Length) + Small.Sum(f => f.Length);

    public static string SmallPath(int index)
        => string.Create(CultureInfo.InvariantCulture, $"/small/{index / 100:D2}/{index:D4}.bin");

    public static FileSet Generate(string root)
    {
        Directory.CreateDirectory(root, DirectoryMode);
        var random = new Random(Seed);
        var fixedFiles = new Dictionary<string, ServedFile>(StringComparer.Ordinal);
        foreach (var (path, length) in new (string, int)[]
        {
            ("/hot/empty.bin", 0),
            ("/hot/4k.bin", 4 * 1024),
            ("/hot/64k.bin", 64 * 1024),
            ("/big/1m.bin", 1024 * 1024),
            ("/big/64m.bin", 64 * 1024 * 1024),
        })
        {
            var bytes = new byte[length];
            random.NextBytes(bytes);
            fixedFiles[path] = Write(root, path, bytes);
        }

        var small = new ServedFile[SmallCount];
        Span<byte> header = stackalloc byte[21];
        for (var i = 0; i < SmallCount; i++)
        {
            var length = random.Next(2 * 1024, 16 * 1024 + 1);
            var bytes = new byte[length];
            random.NextBytes(bytes);
            var written = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"zcperf {length:D8} {i:D4}\n"), header);
            header[..written].CopyTo(bytes);
            small[i] = Write(root, SmallPath(i), bytes);
        }

        return new FileSet(root, fixedFiles, small);
    }

    private static ServedFile Write(string root, string urlPath, byte[] bytes)
    {
        var full = Path.Combine(root, urlPath.TrimStart('/'));
        Directory.CreateDirectory(Path.GetDirectoryName(full)!, DirectoryMode);
        using (var stream = new FileStream(full, new FileStreamOptions
        {
            Mode = System.IO.FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = FileMode,
        }))
        {
            stream.Write(bytes);
        }

        return new ServedFile(urlPath, bytes.Length, SHA256.HashData(bytes));
    }
}

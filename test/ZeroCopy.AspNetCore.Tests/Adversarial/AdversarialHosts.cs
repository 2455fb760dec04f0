using System.Globalization;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.FileProviders;

namespace ZeroCopy.AspNetCore.Tests.Adversarial;

/// <summary>A directory of files of known bytes, served by ours (and stock) on Kestrel.</summary>
public sealed class RangeSite : IDisposable
{
    private readonly TempDirectory _root = new("zc-adv-range");
    private readonly TempDirectory _content = new("zc-adv-range-content");

    public RangeSite()
    {
        foreach (var (name, length) in Files)
        {
            var bytes = new byte[length];
            new Random(length).NextBytes(bytes);
            Content[name] = bytes;
            var path = _root.Write(name, bytes);
            File.SetLastWriteTimeUtc(path, LastModified.UtcDateTime);
        }
    }

    /// <summary>Empty, one byte, small (hot-cache snapshot), 100 KB (sendfile on the zero-copy transport).</summary>
    public static readonly (string Name, int Length)[] Files = [("empty.bin", 0), ("one.bin", 1), ("small.bin", 1000), ("big.bin", 100_000)];

    /// <summary>Modification time of every file, well in the past.</summary>
    public static readonly DateTimeOffset LastModified = new(2024, 3, 4, 5, 6, 7, TimeSpan.Zero);

    public Dictionary<string, byte[]> Content { get; } = new(StringComparer.Ordinal);

    public string Root => _root.Path;

    public static string HttpDate(DateTimeOffset date) => date.ToString("r", CultureInfo.InvariantCulture);

    /// <summary>Ours: AddZeroCopyStaticFiles (zero-copy transport on Kestrel) + UseZeroCopyStaticFiles.</summary>
    public Task<TestHost> StartOursAsync(HostKind kind = HostKind.Kestrel, Action<KestrelServerOptions>? kestrel = null, Action<ZeroCopyStaticFilesOptions>? options = null)
        => TestHost.StartAsync(
            kind,
            _content.Path,
            builder =>
            {
                builder.Services.AddZeroCopyStaticFiles(o => options?.Invoke(o));
                if (kestrel is not null)
                {
                    builder.WebHost.ConfigureKestrel(kestrel);
                }

                // Trace logging of every request costs more than the request under load: keep
                // Information and above (Error records are what the tests look for).
                builder.Logging.SetMinimumLevel(LogLevel.Information);
            },
            app => app.UseZeroCopyStaticFiles(new StaticFileOptions { FileProvider = new PhysicalFileProvider(Root) }));

    public Task<TestHost> StartStockAsync(Action<KestrelServerOptions>? kestrel = null)
        => TestHost.StartAsync(
            HostKind.Kestrel,
            _content.Path,
            builder =>
            {
                if (kestrel is not null)
                {
                    builder.WebHost.ConfigureKestrel(kestrel);
                }

                builder.Logging.SetMinimumLevel(LogLevel.Information);
            },
            app => app.UseStaticFiles(new StaticFileOptions { FileProvider = new PhysicalFileProvider(Root) }));

    public void Dispose()
    {
        _root.Dispose();
        _content.Dispose();
    }
}

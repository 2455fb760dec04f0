using System.Diagnostics.Metrics;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.FileProviders;

namespace ZeroCopy.AspNetCore.Tests.Differential;

/// <summary>A file of the served directory with its URL and bytes.</summary>
public sealed record SiteFile(string UrlPath, string RelativePath, byte[] Content, DateTime LastWriteTimeUtc);

/// <summary>
/// One directory, served by stock <c>UseStaticFiles</c> and by <c>UseZeroCopyStaticFiles</c> with
/// equal <see cref="StaticFileOptions"/>. Regular files of every interesting size and name, files
/// neither serves (unknown extension, dot-files), and on Linux the special entries of D5: symlinks
/// inside and outside the root, a directory symlink, a FIFO and a Unix domain socket.
/// </summary>
public sealed class DifferentialSite : IDisposable
{
    /// <summary>Fixed modification time of the regular files, far in the past (dates relative to it are never "in the future").</summary>
    public static readonly DateTime BaseTimeUtc = new(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc);

    /// <summary>Deterministic random files, by size: 0, 1, 4095, 64 KiB, 1 MiB + 1.</summary>
    public static readonly (string Url, long Size)[] SizedFiles =
    [
        ("/empty.bin", 0),
        ("/one.bin", 1),
        ("/f4095.bin", 4095),
        ("/f65536.bin", 65536),
        ("/f1m1.bin", (1 << 20) + 1),
    ];

    public const string FutureFile = "/future.txt";
    public const string CanaryText = "CANARY: this file lies outside the served root";

    private readonly List<SiteFile> _files = [];
    private Socket? _socket;

    public DifferentialSite()
    {
        Root = new TempDirectory("zc-diff");
        Outside = new TempDirectory("zc-diff-outside");
        ContentRoot = new TempDirectory("zc-diff-content");

        var seed = 1;
        foreach (var (url, size) in SizedFiles)
        {
            AddRandom(url, size, seed++);
        }

        AddText("/index.html", "<!doctype html><html><head><title>t</title></head><body>differential</body></html>\n");
        AddText("/style.css", "body { color: #123456; }\n");
        AddText("/app.js", "console.log('differential');\n");
        AddText("/sub/nested.txt", "nested file\n");
        AddText("/sub/deeper/leaf.json", "{\"leaf\":true}\n");
        AddText("/with space \u00FC\u00F1\u00EF.txt", "spaces and unicode in the name\n");
        AddText("/a+b.txt", "plus in the name\n");
        AddText(FutureFile, "modified in the future\n", DateTime.UtcNow.AddDays(365));

        // Not served by either: unknown extension, dot-files (PhysicalFileProvider excludes them), a directory.
        Root.Write("data.unknownext", "unknown extension");
        Root.Write(".dotfile.txt", "dot file");
        Root.Write("sub/.hidden.txt", "hidden in sub");
        Root.Write("dir/inner.txt", "inner");
        Outside.Write("canary.txt", CanaryText);
        Outside.WriteRandom("canary-big.bin", 8192, seed: 99);

        // A file with sub-second modification time (both truncate Last-Modified to the second).
        System.IO.File.SetLastWriteTimeUtc(Root.Combine("f4095.bin"), BaseTimeUtc.AddSeconds(2).AddMilliseconds(789));
    }

    public TempDirectory Root { get; }

    /// <summary>A sibling directory: the target of the escaping symlinks.</summary>
    public TempDirectory Outside { get; }

    public TempDirectory ContentRoot { get; }

    /// <summary>Whether <see cref="AddSpecialEntries"/> could create a character device (needs CAP_MKNOD).</summary>
    public bool HasDevice { get; private set; }

    /// <summary>Regular files both servers serve.</summary>
    public IReadOnlyList<SiteFile> Files => _files;

    /// <summary>
    /// Linux only: adds the special entries of D5. Returns the URL of each, by name:
    /// in-link (relative, inside), abs-in-link (absolute, inside), escape-link (to a short file outside),
    /// escape-relative-link (relative link leaving the root), escape-big-link (to a larger file outside),
    /// escape-dir (directory link outside), fifo, fifo-link (in-root link to the FIFO), socket, and
    /// device (a character device like /dev/null, when <see cref="HasDevice"/>).
    /// </summary>
    public IReadOnlyDictionary<string, string> AddSpecialEntries()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException();
        }

        System.IO.File.CreateSymbolicLink(Root.Combine("in-link.bin"), "f4095.bin");
        System.IO.File.CreateSymbolicLink(Root.Combine("abs-in-link.bin"), Root.Combine("f65536.bin"));
        System.IO.File.CreateSymbolicLink(Root.Combine("escape-link.txt"), Outside.Combine("canary.txt"));
        System.IO.File.CreateSymbolicLink(Root.Combine("escape-relative-link.txt"), Path.Combine("..", Path.GetFileName(Outside.Path), "canary.txt"));
        System.IO.File.CreateSymbolicLink(Root.Combine("escape-big-link.bin"), Outside.Combine("canary-big.bin"));
        Directory.CreateSymbolicLink(Root.Combine("escape-dir"), Outside.Path);
        Posix.CreateFifo(Root.Combine("pipe.txt"));
        System.IO.File.CreateSymbolicLink(Root.Combine("pipe-link.txt"), "pipe.txt");
        _socket = Posix.CreateSocketFile(Root.Combine("socket.txt"));
        HasDevice = Posix.TryCreateNullDevice(Root.Combine("device.txt"));

        return new Dictionary<string, string>
        {
            ["in-link"] = "/in-link.bin",
            ["abs-in-link"] = "/abs-in-link.bin",
            ["escape-link"] = "/escape-link.txt",
            ["escape-relative-link"] = "/escape-relative-link.txt",
            ["escape-big-link"] = "/escape-big-link.bin",
            ["escape-dir"] = "/escape-dir/canary.txt",
            ["fifo"] = "/pipe.txt",
            ["fifo-link"] = "/pipe-link.txt",
            ["socket"] = "/socket.txt",
            ["device"] = "/device.txt",
        };
    }

    /// <summary>Starts the stock and the zero-copy server on the same directory.</summary>
    /// <param name="kind">TestServer or Kestrel on 127.0.0.1:0.</param>
    /// <param name="body">
    /// How ours sends bodies: the defaults of <c>AddZeroCopyStaticFiles()</c> (on Kestrel, the
    /// zero-copy transport with sendfile from 16 KiB), or sendfile / splice for every body.
    /// </param>
    /// <param name="options">
    /// The static-file options both servers get, around each one's own provider; by default only
    /// the provider.
    /// </param>
    public async Task<ServerPair> StartAsync(HostKind kind, OursBody body = OursBody.Default, Func<IFileProvider, StaticFileOptions>? options = null)
    {
        options ??= static provider => new StaticFileOptions { FileProvider = provider };
        var stockProvider = new PhysicalFileProvider(Root.Path);
        var oursProvider = new PhysicalFileProvider(Root.Path);
        TestHost? stock = null;
        try
        {
            stock = await TestHost.StartAsync(kind, ContentRoot.Path, null,
                app => app.UseStaticFiles(options(stockProvider)));
            var ours = await TestHost.StartAsync(
                kind,
                ContentRoot.Path,
                builder =>
                {
                    // MaxRanges = 1: several ranges answer 200 as stock. Multipart answers (the
                    // documented difference D6) are checked on their own in DocumentedDifferenceTests;
                    // nothing else depends on MaxRanges.
                    switch (body)
                    {
                        case OursBody.SendFileEverything:
                            builder.Services.AddZeroCopyStaticFiles(o => (o.Mode, o.MinZeroCopyBytes, o.MaxRanges) = (ZeroCopyMode.SendFile, 0, 1));
                            break;
                        case OursBody.SpliceEverything:
                            builder.Services.AddZeroCopyStaticFiles(o => (o.Mode, o.MinZeroCopyBytes, o.MaxRanges) = (ZeroCopyMode.Splice, 0, 1));
                            break;
                        default:
                            builder.Services.AddZeroCopyStaticFiles(o => o.MaxRanges = 1);
                            break;
                    }
                },
                app => app.UseZeroCopyStaticFiles(options(oursProvider)));
            var strategies = new StrategyCounter(ours.Services.GetRequiredService<IMeterFactory>());
            return new ServerPair(stock, ours, strategies, [stockProvider, oursProvider, strategies]);
        }
        catch
        {
            if (stock is not null)
            {
                await stock.DisposeAsync();
            }

            stockProvider.Dispose();
            oursProvider.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _socket?.Dispose();
        Root.Dispose();
        Outside.Dispose();
        ContentRoot.Dispose();
    }

    private void AddRandom(string url, long size, int seed)
    {
        var relative = url.TrimStart('/');
        var path = Root.WriteRandom(relative, size, seed);
        var mtime = BaseTimeUtc.AddSeconds(_files.Count);
        System.IO.File.SetLastWriteTimeUtc(path, mtime);
        _files.Add(new SiteFile(url, relative, System.IO.File.ReadAllBytes(path), mtime));
    }

    private void AddText(string name, string text, DateTime? mtime = null)
    {
        var relative = name.TrimStart('/');
        var path = Root.Write(relative, text);
        var time = mtime ?? BaseTimeUtc.AddSeconds(_files.Count);
        System.IO.File.SetLastWriteTimeUtc(path, time);
        var url = "/" + string.Join('/', relative.Split('/').Select(Uri.EscapeDataString));
        _files.Add(new SiteFile(url, relative, Encoding.UTF8.GetBytes(text), time));
    }

}

/// <summary>How <c>UseZeroCopyStaticFiles</c> sends bodies in a differential run.</summary>
public enum OursBody
{
    /// <summary><c>AddZeroCopyStaticFiles()</c> defaults: Mode Auto, MinZeroCopyBytes 16 KiB.</summary>
    Default,
    /// <summary>Mode SendFile, MinZeroCopyBytes 0: every non-empty body through sendfile(2) (Kestrel).</summary>
    SendFileEverything,
    /// <summary>Mode Splice, MinZeroCopyBytes 0: every non-empty body through splice(2) (Kestrel).</summary>
    SpliceEverything,
}

/// <summary>The two servers of one host kind. Disposes both and their providers.</summary>
public sealed class ServerPair(TestHost stock, TestHost ours, StrategyCounter oursStrategies, IDisposable[] owned) : IAsyncDisposable
{
    public TestHost Stock { get; } = stock;

    public TestHost Ours { get; } = ours;

    /// <summary>Ours' responses by body strategy (from its metrics).</summary>
    public StrategyCounter OursStrategies { get; } = oursStrategies;

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Ours.DisposeAsync();
        }
        finally
        {
            await Stock.DisposeAsync();
            foreach (var item in owned)
            {
                item.Dispose();
            }
        }
    }
}

using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Text;
using Microsoft.Extensions.FileProviders;

namespace ZeroCopy.AspNetCore.Tests.Adversarial;

/// <summary>What a path finally resolves to.</summary>
public enum EntryKind
{
    Missing,
    Loop,
    Regular,
    Directory,
    Fifo,
    Socket,
    Device,
}

/// <summary>Why a request path gets the answer it gets (the groups of the stock comparison).</summary>
public enum PathCause
{
    /// <summary>The request never reached the application (Kestrel answered it).</summary>
    RejectedByServer,
    /// <summary>PhysicalFileProvider finds nothing (dot-files, directories, above the root, invalid characters, missing).</summary>
    ProviderNotFound,
    RegularFile,
    /// <summary>A symlink (file or directory) whose target is a regular file inside the root.</summary>
    SymlinkInsideRoot,
    /// <summary>A symlink whose target lies outside the root (README: not served).</summary>
    EscapingSymlink,
    /// <summary>A FIFO, socket or device inside the root (README: not served).</summary>
    SpecialFile,
    /// <summary>A symlink that resolves to nothing (README: 404).</summary>
    DanglingOrLoopingSymlink,
    /// <summary>
    /// A file name followed by "/": FileInfo (and so PhysicalFileProvider) ignores the trailing
    /// separator and reports the file, even a dot-file; open(2) fails with ENOTDIR.
    /// </summary>
    TrailingSlashAfterFile,
}

/// <summary>Where a request path leads.</summary>
public sealed record PathClass(PathCause Cause, EntryKind Kind, string? RealPath)
{
    public bool IsFifo => Kind == EntryKind.Fifo;
}

/// <summary>
/// A served root with everything an attacker would aim at, and canaries outside it:
/// <code>
/// base/
///   canary.txt                 canary (one level above the root)
///   outside/canary.txt         canary (sibling folder)
///   outside/canary-big.bin     canary, 64 KiB (large enough for the sendfile path)
///   outside/fifo.txt           a FIFO outside the root
///   root-evil/canary.txt       canary in a sibling whose name starts with the root's name
///   content/                   content root of the hosts (not served)
///   outside/index.html         canary (reached as a default document through dir-out-rel/)
///   root/                      the served root: regular files, dot-files and dot-directories,
///                              Unicode names (NFC and NFD), a 255-byte name, a deep folder,
///                              symlinks inside and out of the root (file and directory, relative
///                              and absolute, through /proc/self/root, to "/" and ".."), dangling
///                              and looping symlinks, FIFOs, a Unix socket, a device when permitted,
///                              precompressed siblings (one real, the others escaping, FIFO,
///                              dangling, socket) and default documents (escaping, FIFO).
/// </code>
/// Every canary file consists of the same unique token repeated, so any slice of 64 bytes or more
/// contains the token.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed partial class AdversarialTree : IDisposable
{
    /// <summary>A file name of 255 bytes, the longest Linux allows.</summary>
    public static readonly string LongName255 = new string('x', 251) + ".txt";
    public const string NfcName = "caf\u00E9.txt";
    public const string NfdName = "cafe\u0301-nfd.txt";

    private readonly TempDirectory _base = new("zc-adv");
    private readonly Dictionary<string, EntryKind> _specials = new(StringComparer.Ordinal);
    private readonly List<string> _fifos = [];
    private readonly Socket _socket;
    private readonly PhysicalFileProvider _provider;

    public AdversarialTree()
    {
        // The token is unique per tree: no legitimate body can contain it by accident.
        CanaryToken = Encoding.ASCII.GetBytes($"ZC-CANARY-{Guid.NewGuid():N}-");
        Root = _base.Combine("root");
        Outside = _base.Combine("outside");
        ContentRoot = _base.Combine("content");
        Directory.CreateDirectory(Root);
        Directory.CreateDirectory(Outside);
        Directory.CreateDirectory(ContentRoot);

        WriteCanary(_base.Combine("canary.txt"), 200);
        WriteCanary(Path.Combine(Outside, "canary.txt"), 200);
        WriteCanary(Path.Combine(Outside, "canary-big.bin"), 64 * 1024);
        WriteCanary(_base.Combine("root-evil/canary.txt"), 200);
        WriteCanary(Path.Combine(Outside, "index.html"), 200);
        AddFifo(Path.Combine(Outside, "fifo.txt"));

        // Regular files.
        Write("index.html", "<!doctype html><title>adversarial</title>\n");
        Write("a.txt", "alpha\n");
        WriteRandom("big.bin", 40_000);
        Write("sub/nested.txt", "nested\n");
        Write("sub/deeper/leaf.txt", "leaf\n");
        Write(".hidden.txt", "dot file\n");
        Write(".git/config.txt", "dot directory\n");
        Write(".well-known/security.txt", "Contact: mailto:security@example.com\n");
        Write("sub/.env.txt", "dot file in a sub-folder\n");
        Write(NfcName, "NFC name\n");
        Write(NfdName, "NFD name\n");
        Write("trail.txt", "trailing\n");
        Write("with space.txt", "space\n");
        Write("percent%2e%2e.txt", "a name with a literal %2e%2e\n");
        Write("back\\slash.txt", "a name with a backslash\n");
        Write("semi;colon.txt", "a name with a semicolon\n");
        Write(LongName255, "255-byte name\n");
        Write(string.Join('/', Enumerable.Range(1, 20).Select(i => "d" + i)) + "/deep.txt", "deep\n");

        // Symlinks that stay inside the root.
        Link("link-in.txt", "a.txt");
        Link("link-in-abs.txt", Path.Combine(Root, "a.txt"));
        Link("link-in-big.bin", "big.bin");
        Link("dir-in", "sub");
        Link("dir-self", ".");

        // Symlinks that leave the root.
        Link("link-out-rel.txt", "../outside/canary.txt");
        Link("link-out-abs.txt", Path.Combine(Outside, "canary.txt"));
        Link("link-out-big.bin", Path.Combine(Outside, "canary-big.bin"));
        Link("link-parent.txt", "../canary.txt");
        Link("link-evil.txt", "../root-evil/canary.txt");
        Link("link-proc.txt", "/proc/self/root" + _base.Combine("canary.txt"));
        Link("link-out-fifo.txt", Path.Combine(Outside, "fifo.txt"));
        Link("dir-out-rel", "../outside");
        Link("dir-out-abs", Outside);
        Link("dir-parent", "..");
        Link("dir-slash", "/");
        Link("sub/link-up2.txt", "../../canary.txt");

        // Symlinks that go nowhere.
        Link("dangling.txt", "does-not-exist.txt");
        Link("loop.txt", "loop.txt");
        Link("loop-a.txt", "loop-b.txt");
        Link("loop-b.txt", "loop-a.txt");
        Link("dir-loop", "dir-loop");

        // Precompressed siblings (ours serves app.js.br for app.js when the client accepts br): one
        // legitimate, the others hostile. A request for a.txt with "Accept-Encoding: br, gzip" must
        // still get a.txt.
        Write("sub/nested.txt.gz", "GZ-SIBLING\n");
        Link("a.txt.br", "../outside/canary.txt");
        AddFifo(Path.Combine(Root, "a.txt.gz"));
        Link("index.html.br", "missing.br");
        Link("index.html.gz", Path.Combine(Outside, "canary-big.bin"));
        Link("big.bin.br", "dir-out-abs/canary-big.bin");
        Link("big.bin.gz", "sock.txt");

        // Default documents (ours with DefaultDocuments on): escaping, a FIFO, outside via a directory link.
        Link("sub/index.html", "../../canary.txt");
        AddFifo(Path.Combine(Root, "sub/deeper/index.html"));

        // Special files.
        AddFifo(Path.Combine(Root, "fifo.txt"));
        Link("link-fifo.txt", "fifo.txt");
        _socket = Posix.CreateSocketFile(Path.Combine(Root, "sock.txt"));
        _specials[RealPathOrSelf(Path.Combine(Root, "sock.txt"))] = EntryKind.Socket;
        Link("link-sock.txt", "sock.txt");
        HasDevice = Posix.TryCreateNullDevice(Path.Combine(Root, "dev.txt"));
        if (HasDevice)
        {
            _specials[RealPathOrSelf(Path.Combine(Root, "dev.txt"))] = EntryKind.Device;
        }

        RealRoot = RealPathOrSelf(Root);
        _provider = new PhysicalFileProvider(Root);
    }

    /// <summary>The served directory (no trailing separator).</summary>
    public string Root { get; }

    /// <summary>The root as the kernel resolves it.</summary>
    public string RealRoot { get; }

    public string Base => _base.Path;

    public string Outside { get; }

    public string ContentRoot { get; }

    public bool HasDevice { get; }

    public byte[] CanaryToken { get; }

    /// <summary>Names directly under the root that requests aim at (files, links, special files, dot entries).</summary>
    public static IReadOnlyList<string> EntryNames { get; } =
    [
        "index.html", "a.txt", "big.bin", "sub/nested.txt", ".hidden.txt", ".git/config.txt", ".well-known/security.txt",
        "sub/.env.txt", "trail.txt", "link-in.txt", "link-in-abs.txt", "link-in-big.bin", "dir-in/nested.txt",
        "dir-self/a.txt", "link-out-rel.txt", "link-out-abs.txt", "link-out-big.bin", "link-parent.txt", "link-evil.txt",
        "link-proc.txt", "link-out-fifo.txt", "dir-out-rel/canary.txt", "dir-out-abs/canary-big.bin", "dir-parent/canary.txt",
        "sub/link-up2.txt", "dangling.txt", "loop.txt", "loop-a.txt", "dir-loop/a.txt", "fifo.txt", "link-fifo.txt",
        "sock.txt", "link-sock.txt", "dev.txt", "semi;colon.txt", "a.txt.br", "a.txt.gz", "index.html.br", "index.html.gz",
        "big.bin.br", "big.bin.gz", "sub/nested.txt.gz", "sub/index.html", "sub/deeper/index.html", "sub/", "sub/deeper/", "sub/deeper",
        "dir-out-rel/", "dir-out-abs", "dir-parent/", "dir-in/", "dir-slash/", "dir-loop/",
    ];

    /// <summary>Bytes of the canary token found in <paramref name="body"/> (0 when none).</summary>
    public bool ContainsCanary(ReadOnlySpan<byte> body) => body.IndexOf(CanaryToken) >= 0;

    /// <summary>What the kernel resolves <paramref name="path"/> to (following every symlink).</summary>
    public (string? RealPath, EntryKind Kind) Resolve(string path) => Resolve(path, out _);

    private (string? RealPath, EntryKind Kind) Resolve(string path, out int errno)
    {
        var real = RealPath(path, out errno);
        if (real is null)
        {
            return (null, errno == Eloop ? EntryKind.Loop : EntryKind.Missing);
        }

        if (_specials.TryGetValue(real, out var special))
        {
            return (real, special);
        }

        return (real, Directory.Exists(real) ? EntryKind.Directory : File.Exists(real) ? EntryKind.Regular : EntryKind.Missing);
    }

    /// <summary>
    /// What a middleware given <paramref name="requestPath"/> as <c>Request.Path</c> would reach: the
    /// file provider's answer, then where the kernel resolves the physical path (independently of the
    /// library: realpath(3) and the list of special files this tree created).
    /// </summary>
    public PathClass Classify(string requestPath)
    {
        var info = _provider.GetFileInfo(requestPath);
        if (!info.Exists || info.PhysicalPath is not { } physical)
        {
            return new PathClass(PathCause.ProviderNotFound, EntryKind.Missing, null);
        }

        var (real, kind) = Resolve(physical, out var errno);
        if (real is null)
        {
            // .NET's FileInfo ignores a trailing separator, the kernel does not (ENOTDIR).
            var reason = errno == Enotdir && physical.EndsWith('/') && File.Exists(physical.TrimEnd('/')) ? PathCause.TrailingSlashAfterFile
                : kind == EntryKind.Loop || IsSymlink(physical) ? PathCause.DanglingOrLoopingSymlink
                : PathCause.ProviderNotFound;
            return new PathClass(reason, kind, null);
        }

        var viaSymlink = !string.Equals(real, RealRoot + physical[Root.Length..], StringComparison.Ordinal);
        var cause = !IsUnderRoot(real) ? PathCause.EscapingSymlink
            : kind is EntryKind.Fifo or EntryKind.Socket or EntryKind.Device ? PathCause.SpecialFile
            : kind != EntryKind.Regular ? PathCause.ProviderNotFound
            : viaSymlink ? PathCause.SymlinkInsideRoot
            : PathCause.RegularFile;
        return new PathClass(cause, kind, real);
    }

    /// <summary>Whether <paramref name="realPath"/> (already resolved) lies under the root.</summary>
    public bool IsUnderRoot(string realPath) => realPath.StartsWith(RealRoot + "/", StringComparison.Ordinal);

    /// <summary>
    /// Opens every FIFO for writing without blocking and closes it again: a reader blocked in open(2)
    /// (stock serving a FIFO) is released with an empty read. Harmless when nobody reads.
    /// </summary>
    public void ReleaseFifoReaders()
    {
        foreach (var fifo in _fifos)
        {
            var fd = OpenRaw(fifo, OWronly | ONonblock, 0);
            if (fd >= 0)
            {
                _ = CloseRaw(fd);
            }
        }
    }

    public void Dispose()
    {
        ReleaseFifoReaders();
        _socket.Dispose();
        _provider.Dispose();
        _base.Dispose();
    }

    private const int Eloop = 40;
    private const int Enotdir = 20;
    private const int OWronly = 0x1;
    private const int ONonblock = 0x800;

    [LibraryImport("libc", EntryPoint = "realpath", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial nint RealPathRaw(string path, nint resolved);

    [LibraryImport("libc", EntryPoint = "free")]
    private static partial void Free(nint pointer);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int OpenRaw(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int CloseRaw(int fd);

    /// <summary>realpath(3), or null with errno.</summary>
    public static string? RealPath(string path, out int errno)
    {
        var result = RealPathRaw(path, 0);
        if (result == 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return null;
        }

        errno = 0;
        try
        {
            return Marshal.PtrToStringUTF8(result);
        }
        finally
        {
            Free(result);
        }
    }

    private static bool IsSymlink(string path)
    {
        try
        {
            return new FileInfo(path.TrimEnd('/')).LinkTarget is not null;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static string RealPathOrSelf(string path) => RealPath(path, out _) ?? path;

    private void Write(string relative, string text)
    {
        var full = Path.Combine(Root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full, text);
    }

    private void WriteRandom(string relative, int length)
    {
        var bytes = new byte[length];
        new Random(12345).NextBytes(bytes);
        File.WriteAllBytes(Path.Combine(Root, relative), bytes);
    }

    private void WriteCanary(string path, int length)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
        {
            bytes[i] = CanaryToken[i % CanaryToken.Length];
        }

        File.WriteAllBytes(path, bytes);
    }

    private void Link(string relative, string target)
    {
        var full = Path.Combine(Root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.CreateSymbolicLink(full, target);
    }

    private void AddFifo(string path)
    {
        Posix.CreateFifo(path);
        _fifos.Add(path);
        _specials[RealPathOrSelf(path)] = EntryKind.Fifo;
    }
}

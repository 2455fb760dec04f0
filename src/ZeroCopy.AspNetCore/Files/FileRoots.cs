using System.Collections.Concurrent;
using System.Runtime.Versioning;
using Microsoft.Extensions.FileProviders;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Files;

/// <summary>
/// The file providers and <see cref="RootDirectory"/> openers of the application's roots, one per
/// directory, shared by every middleware that serves it and disposed with the application.
/// </summary>
internal sealed class FileRoots : IDisposable
{
    private readonly ConcurrentDictionary<string, PhysicalFileProvider> _providers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, object> _roots = new(StringComparer.Ordinal);

    /// <summary>The provider for a configured <c>Root</c> (a full path).</summary>
    public PhysicalFileProvider ProviderFor(string fullPath)
        => _providers.GetOrAdd(fullPath, static path => new PhysicalFileProvider(path));

    /// <summary>The opener for a physical root on Linux; null elsewhere or when the directory cannot be opened.</summary>
    public RootDirectory? DirectoryFor(string rootPath)
    {
        if (!LinuxOnly.IsSupported)
        {
            return null;
        }

        var key = Path.TrimEndingDirectorySeparator(Path.GetFullPath(rootPath));
        return _roots.GetOrAdd(key, Open) as RootDirectory;
    }

    [SupportedOSPlatform("linux")]
    private static object Open(string path)
    {
        try
        {
            return new RootDirectory(path);
        }
        catch (IOException)
        {
            // Remembered, so an unusable root is not re-opened per middleware rebuild.
            return NoRoot.Instance;
        }
    }

    public void Dispose()
    {
        foreach (var provider in _providers.Values)
        {
            provider.Dispose();
        }

        foreach (var root in _roots.Values)
        {
            (root as IDisposable)?.Dispose();
        }
    }

    private sealed class NoRoot
    {
        public static readonly NoRoot Instance = new();
    }
}

using System.Runtime.Versioning;
using Microsoft.Extensions.FileProviders;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Files;

/// <summary>Turns the provider's <see cref="IFileInfo"/> into a <see cref="ResolvedFile"/>, or refuses it.</summary>
internal static class FileResolver
{
    /// <param name="root">The opener of the provider's directory (Linux, physical root), or null.</param>
    /// <param name="etags">Describes the version (ETag mode).</param>
    /// <param name="info">What the provider returned for <paramref name="filePath"/>; it exists.</param>
    /// <param name="filePath">The file's path below the root (a sibling's own path for precompressed ones).</param>
    /// <param name="contentType">Content-Type to send.</param>
    /// <param name="contentEncoding">br/gzip/zstd for a precompressed sibling.</param>
    /// <param name="outcome">Why it was refused, when it was.</param>
    /// <returns>The file to serve, or null.</returns>
    public static ResolvedFile? Resolve(RootDirectory? root, ETagFactory etags, IFileInfo info, string filePath, string? contentType, string? contentEncoding, out OpenOutcome outcome)
    {
        if (LinuxOnly.IsSupported && !string.IsNullOrEmpty(info.PhysicalPath))
        {
            return ResolveOnLinux(root, etags, info, info.PhysicalPath, filePath, contentType, contentEncoding, out outcome);
        }

        outcome = OpenOutcome.Opened;
        return new ResolvedFile(etags.Describe(info, contentType, contentEncoding), ownedHandle: null);
    }

    [SupportedOSPlatform("linux")]
    private static ResolvedFile? ResolveOnLinux(RootDirectory? root, ETagFactory etags, IFileInfo info, string physicalPath, string filePath, string? contentType, string? contentEncoding, out OpenOutcome outcome)
    {
        outcome = root is not null
            ? root.Open(physicalPath, out var handle, out var status)
            : RootDirectory.OpenAnywhere(physicalPath, out handle, out status);

        if (outcome != OpenOutcome.Opened)
        {
            return null;
        }

        try
        {
            return new ResolvedFile(etags.Describe(info, filePath, contentType, contentEncoding, status, handle!), handle);
        }
        catch
        {
            handle!.Dispose();
            throw;
        }
    }
}

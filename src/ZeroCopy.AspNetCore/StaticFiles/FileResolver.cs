using System.Runtime.Versioning;
using Microsoft.Extensions.FileProviders;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>Turns the provider's <see cref="IFileInfo"/> into a <see cref="ResolvedFile"/>, or refuses it.</summary>
internal static class FileResolver
{
    /// <param name="site">The middleware's settings (root, ETag mode).</param>
    /// <param name="info">What the provider returned for <paramref name="filePath"/>; it exists.</param>
    /// <param name="filePath">The file's path below the root (a sibling's own path for precompressed ones).</param>
    /// <param name="contentType">Content-Type to send.</param>
    /// <param name="contentEncoding">br/gzip/zstd for a precompressed sibling.</param>
    /// <param name="outcome">Why it was refused, when it was.</param>
    /// <returns>The file to serve, or null.</returns>
    public static ResolvedFile? Resolve(StaticFileSite site, IFileInfo info, string filePath, string? contentType, string? contentEncoding, out OpenOutcome outcome)
    {
        if (OperatingSystem.IsLinux() && !string.IsNullOrEmpty(info.PhysicalPath))
        {
            return ResolveOnLinux(site, info, info.PhysicalPath, filePath, contentType, contentEncoding, out outcome);
        }

        outcome = OpenOutcome.Opened;
        return new ResolvedFile(site.ETags.Describe(info, contentType, contentEncoding), ownedHandle: null);
    }

    [SupportedOSPlatform("linux")]
    private static ResolvedFile? ResolveOnLinux(StaticFileSite site, IFileInfo info, string physicalPath, string filePath, string? contentType, string? contentEncoding, out OpenOutcome outcome)
    {
        outcome = site.Root is { } root
            ? root.Open(physicalPath, out var handle, out var status)
            : RootDirectory.OpenAnywhere(physicalPath, out handle, out status);

        if (outcome != OpenOutcome.Opened)
        {
            return null;
        }

        try
        {
            return new ResolvedFile(site.ETags.Describe(info, filePath, contentType, contentEncoding, status, handle!), handle);
        }
        catch
        {
            handle!.Dispose();
            throw;
        }
    }
}

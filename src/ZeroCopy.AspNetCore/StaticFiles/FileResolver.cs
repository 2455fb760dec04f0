using System.Runtime.Versioning;
using Microsoft.Extensions.FileProviders;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>Turns the provider's <see cref="IFileInfo"/> into a <see cref="ResolvedFile"/>, or refuses it.</summary>
internal static class FileResolver
{
    /// <returns>The file to serve, or null with the reason in <paramref name="outcome"/>.</returns>
    public static ResolvedFile? Resolve(StaticFileSite site, IFileInfo info, string? contentType, out OpenOutcome outcome)
    {
        if (OperatingSystem.IsLinux() && !string.IsNullOrEmpty(info.PhysicalPath))
        {
            return ResolveOnLinux(site, info, info.PhysicalPath, contentType, out outcome);
        }

        outcome = OpenOutcome.Opened;
        return new ResolvedFile(new FileVersion(info, contentType, info.Length, info.LastModified, identity: null), ownedHandle: null);
    }

    [SupportedOSPlatform("linux")]
    private static ResolvedFile? ResolveOnLinux(StaticFileSite site, IFileInfo info, string physicalPath, string? contentType, out OpenOutcome outcome)
    {
        outcome = site.Root is { } root
            ? root.Open(physicalPath, out var handle, out var status)
            : RootDirectory.OpenAnywhere(physicalPath, out handle, out status);

        return outcome == OpenOutcome.Opened
            ? new ResolvedFile(new FileVersion(info, contentType, status.Size, status.LastWriteTimeUtc, status), handle)
            : null;
    }
}

using System.Runtime.Versioning;
using Microsoft.Extensions.FileProviders;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>Turns the provider's <see cref="IFileInfo"/> into a <see cref="ResolvedFile"/>, or refuses it.</summary>
internal static class FileResolver
{
    /// <returns>The file to serve, or null with the reason in <paramref name="outcome"/>.</returns>
    public static ResolvedFile? Resolve(StaticFileSite site, IFileInfo info, out OpenOutcome outcome)
    {
        if (OperatingSystem.IsLinux() && !string.IsNullOrEmpty(info.PhysicalPath))
        {
            return ResolveOnLinux(site, info, info.PhysicalPath, out outcome);
        }

        outcome = OpenOutcome.Opened;
        return new ResolvedFile(info, handle: null, info.Length, info.LastModified);
    }

    [SupportedOSPlatform("linux")]
    private static ResolvedFile? ResolveOnLinux(StaticFileSite site, IFileInfo info, string physicalPath, out OpenOutcome outcome)
    {
        outcome = site.Root is { } root
            ? root.Open(physicalPath, out var handle, out var status)
            : RootDirectory.OpenAnywhere(physicalPath, out handle, out status);

        return outcome == OpenOutcome.Opened
            ? new ResolvedFile(info, handle, status.Size, status.LastWriteTimeUtc)
            : null;
    }
}

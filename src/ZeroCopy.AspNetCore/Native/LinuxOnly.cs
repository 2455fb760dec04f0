using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

/// <summary>The one runtime guard for the Linux-only code paths (the platform analyzer trusts it).</summary>
internal static class LinuxOnly
{
    /// <summary>True when running on Linux: the syscalls in <see cref="Interop"/> exist.</summary>
    [SupportedOSPlatformGuard("linux")]
    public static bool IsSupported { get; } = OperatingSystem.IsLinux();
}

using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

/// <summary>A read-only mapping, unmapped when the last reference is released.</summary>
[SupportedOSPlatform("linux")]
internal sealed class SafeMappingHandle : SafeHandle
{
    public SafeMappingHandle(nint address, long length)
        : base(invalidHandleValue: 0, ownsHandle: true)
    {
        Length = length;
        SetHandle(address);
    }

    public long Length { get; }

    public override bool IsInvalid => handle == 0;

    /// <summary>The mapped bytes; valid only while a reference is held (DangerousAddRef).</summary>
    public unsafe ReadOnlySpan<byte> DangerousGetSpan() => new((void*)handle, checked((int)Length));

    protected override bool ReleaseHandle() => Interop.Munmap(handle, (nuint)Length) == 0;
}

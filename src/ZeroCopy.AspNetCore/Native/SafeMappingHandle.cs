using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

/// <summary>A mapping of <see cref="Length"/> bytes, unmapped when the last reference is released.</summary>
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

    /// <summary>
    /// <paramref name="length"/> mapped bytes from <paramref name="offset"/>; valid only while the
    /// mapping lives, which the caller guarantees (the cache: while the slot is referenced).
    /// </summary>
    public unsafe Span<byte> DangerousGetSpan(long offset, int length)
    {
        if ((ulong)offset > (ulong)Length || (ulong)length > (ulong)(Length - offset))
        {
            throw new ArgumentOutOfRangeException(nameof(length));
        }

        return new((byte*)handle + offset, length);
    }

    protected override bool ReleaseHandle() => Interop.Munmap(handle, (nuint)Length) == 0;
}

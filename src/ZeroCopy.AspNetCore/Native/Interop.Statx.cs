using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace ZeroCopy.AspNetCore.Native;

/// <summary>The file type bits of <c>st_mode</c> (S_IFMT).</summary>
internal enum FileKind
{
    Unknown = 0,
    Fifo = 0x1000,
    CharDevice = 0x2000,
    Directory = 0x4000,
    BlockDevice = 0x6000,
    Regular = 0x8000,
    Symlink = 0xA000,
    Socket = 0xC000,
}

/// <summary>What the library needs of a struct statx.</summary>
internal readonly record struct FileStatus(FileKind Kind, long Size, long MTimeSeconds, uint MTimeNanoseconds, ulong Inode, uint DeviceMajor, uint DeviceMinor)
{
    /// <summary>Modification time as UTC.</summary>
    public DateTimeOffset LastWriteTimeUtc =>
        DateTimeOffset.FromUnixTimeSeconds(MTimeSeconds).AddTicks(MTimeNanoseconds / 100);

    /// <summary>Same inode, device, size and modification time (to the nanosecond).</summary>
    public bool IsSameVersion(in FileStatus other)
        => Inode == other.Inode
            && DeviceMajor == other.DeviceMajor
            && DeviceMinor == other.DeviceMinor
            && Size == other.Size
            && MTimeSeconds == other.MTimeSeconds
            && MTimeNanoseconds == other.MTimeNanoseconds;
}

internal static unsafe partial class Interop
{
    private const int AT_EMPTY_PATH = 0x1000;
    private const uint STATX_TYPE = 0x1;
    private const uint STATX_MODE = 0x2;
    private const uint STATX_MTIME = 0x40;
    private const uint STATX_INO = 0x100;
    private const uint STATX_SIZE = 0x200;

    // struct statx has the same 256-byte layout on every architecture (include/uapi/linux/stat.h).
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct StatxBuffer
    {
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(32)] public ulong Ino;
        [FieldOffset(40)] public ulong Size;
        [FieldOffset(112)] public long MTimeSec;
        [FieldOffset(120)] public uint MTimeNsec;
        [FieldOffset(136)] public uint DevMajor;
        [FieldOffset(140)] public uint DevMinor;
    }

    private const uint StatxMask = STATX_TYPE | STATX_MODE | STATX_MTIME | STATX_INO | STATX_SIZE;

    [LibraryImport(Libc, EntryPoint = "statx", SetLastError = true)]
    private static partial int StatxRaw(SafeHandle dirfd, byte* path, int flags, uint mask, StatxBuffer* buffer);

    [LibraryImport(Libc, EntryPoint = "statx", SetLastError = true)]
    private static partial int StatxAtCwdRaw(int dirfd, byte* path, int flags, uint mask, StatxBuffer* buffer);

    /// <summary>statx(2) of an open descriptor (AT_EMPTY_PATH), retried on EINTR.</summary>
    [SupportedOSPlatform("linux")]
    internal static Errno FStat(SafeHandle file, out FileStatus status)
    {
        byte empty = 0;
        StatxBuffer buffer;
        Errno errno;
        do
        {
            errno = StatxRaw(file, &empty, AT_EMPTY_PATH, StatxMask, &buffer) < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
        }
        while (errno == Errno.EINTR);

        return Complete(errno, &buffer, out status);
    }

    /// <summary>statx(2) of an absolute path, following symlinks, retried on EINTR.</summary>
    [SupportedOSPlatform("linux")]
    internal static Errno Stat(ReadOnlySpan<byte> nullTerminatedPath, out FileStatus status)
    {
        StatxBuffer buffer;
        Errno errno;
        fixed (byte* path = nullTerminatedPath)
        {
            do
            {
                errno = StatxAtCwdRaw(AT_FDCWD, path, 0, StatxMask, &buffer) < 0 ? ErrnoExtensions.LastErrno() : Errno.None;
            }
            while (errno == Errno.EINTR);
        }

        return Complete(errno, &buffer, out status);
    }

    private static Errno Complete(Errno errno, StatxBuffer* buffer, out FileStatus status)
    {
        if (errno != Errno.None)
        {
            status = default;
            return errno;
        }

        status = new FileStatus(
            (FileKind)(buffer->Mode & 0xF000),
            (long)buffer->Size,
            buffer->MTimeSec,
            buffer->MTimeNsec,
            buffer->Ino,
            buffer->DevMajor,
            buffer->DevMinor);
        return Errno.None;
    }
}

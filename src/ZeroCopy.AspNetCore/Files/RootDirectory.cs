using System.Buffers;
using System.Diagnostics;
using System.Runtime.Versioning;
using System.Text;
using Microsoft.Win32.SafeHandles;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Files;

/// <summary>Why a file under a root could not be opened for serving.</summary>
internal enum OpenOutcome
{
    Opened,
    NotFound,
    /// <summary>The path resolves (through a symlink) to a file outside the root.</summary>
    OutsideRoot,
    /// <summary>A FIFO, socket, device or directory: never served (a FIFO would block the request).</summary>
    NotRegularFile,
    /// <summary>The process may not read the file (EACCES).</summary>
    AccessDenied,
}

/// <summary>
/// Opens files below the directory of a <c>PhysicalFileProvider</c> so that what is served is a
/// regular file that really lies under the root, read through the same descriptor whose metadata
/// produced the headers.
/// </summary>
/// <remarks>
/// <para>
/// The primary path is openat2(2) with RESOLVE_BENEATH relative to a descriptor of the root: the
/// kernel refuses (EXDEV) any resolution that leaves the root, including through symlinks.
/// RESOLVE_BENEATH also refuses absolute symlinks that would land inside the root, so EXDEV is
/// re-checked by opening the path normally and asking the kernel where the descriptor points
/// (/proc/self/fd). The same check is used where openat2 is not available (ENOSYS before Linux
/// 5.6, EPERM under some seccomp profiles).
/// </para>
/// <para>
/// Files are opened O_NONBLOCK so that a FIFO cannot block the request, then fstat'ed; anything but
/// a regular file is refused. O_NONBLOCK has no effect on reads of regular files.
/// </para>
/// <para>
/// The root descriptor is re-validated (inode of the root path) at most once a second, so a root
/// that is a symlink switched to a new release is followed within a second.
/// </para>
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed class RootDirectory : IDisposable
{
    private const OpenFlags FileOpenFlags = OpenFlags.O_RDONLY | OpenFlags.O_NONBLOCK | OpenFlags.O_NOCTTY | OpenFlags.O_CLOEXEC;
    private static readonly long s_revalidateTicks = Stopwatch.Frequency;
    private static volatile bool s_openAt2Unavailable;

    private readonly string _rootPath;
    private readonly string _rootPrefix;
    private readonly byte[] _rootPathBytes;
    private readonly Lock _refreshLock = new();
    private volatile RootState _state;
    private long _nextCheck;

    private sealed record RootState(SafeFdHandle Descriptor, ulong Inode, uint DevMajor, uint DevMinor, string RealRootWithSlash);

    public RootDirectory(string rootPath)
    {
        _rootPath = Path.TrimEndingDirectorySeparator(Path.GetFullPath(rootPath));
        _rootPrefix = _rootPath.EndsWith('/') ? _rootPath : _rootPath + "/";
        _rootPathBytes = Interop.NullTerminated(_rootPath);
        _state = OpenState() ?? throw new DirectoryNotFoundException($"The root directory '{_rootPath}' cannot be opened.");
        _nextCheck = Stopwatch.GetTimestamp() + s_revalidateTicks;
    }

    /// <summary>
    /// Opens <paramref name="physicalPath"/>, which the file provider produced and which therefore
    /// starts with the root path.
    /// </summary>
    public OpenOutcome Open(string physicalPath, out SafeFileHandle? handle, out FileStatus status)
    {
        handle = null;
        status = default;
        if (!physicalPath.StartsWith(_rootPrefix, StringComparison.Ordinal) || physicalPath.Length == _rootPrefix.Length)
        {
            return OpenOutcome.OutsideRoot;
        }

        var state = CurrentState();
        SafeFileHandle candidate;
        Errno errno;
        if (!s_openAt2Unavailable)
        {
            var relative = physicalPath.AsSpan(_rootPrefix.Length);
            candidate = OpenBeneath(state.Descriptor, relative, out errno);
            if (!candidate.IsInvalid)
            {
                return Finish(candidate, out handle, out status);
            }

            if (errno is Errno.ENOSYS or Errno.EPERM)
            {
                s_openAt2Unavailable = true;
            }
            else if (errno != Errno.EXDEV)
            {
                return Classify(errno, physicalPath);
            }
        }

        // EXDEV (an absolute symlink, or an escape) or no openat2: open normally and ask the kernel
        // where the descriptor points.
        candidate = Interop.Open(Interop.NullTerminated(physicalPath), FileOpenFlags, out errno);
        if (candidate.IsInvalid)
        {
            return Classify(errno, physicalPath);
        }

        var where = Interop.PathOfDescriptor(candidate) ?? Interop.RealPath(physicalPath);
        if (where is null || !where.StartsWith(state.RealRootWithSlash, StringComparison.Ordinal))
        {
            candidate.Dispose();
            return OpenOutcome.OutsideRoot;
        }

        return Finish(candidate, out handle, out status);
    }

    /// <summary>
    /// Opens a physical path of a provider whose root is not known (a composite or custom provider):
    /// no containment check, but still only regular files, opened without blocking.
    /// </summary>
    public static OpenOutcome OpenAnywhere(string physicalPath, out SafeFileHandle? handle, out FileStatus status)
    {
        handle = null;
        status = default;
        var candidate = Interop.Open(Interop.NullTerminated(physicalPath), FileOpenFlags, out var errno);
        return candidate.IsInvalid ? Classify(errno, physicalPath) : Finish(candidate, out handle, out status);
    }

    private static SafeFileHandle OpenBeneath(SafeFdHandle root, ReadOnlySpan<char> relative, out Errno errno)
    {
        var max = Encoding.UTF8.GetMaxByteCount(relative.Length) + 1;
        byte[]? rented = null;
        var buffer = max <= 1024 ? stackalloc byte[1024] : (rented = ArrayPool<byte>.Shared.Rent(max));
        try
        {
            var length = Encoding.UTF8.GetBytes(relative, buffer);
            buffer[length] = 0;
            return Interop.OpenAt2(root, buffer[..(length + 1)], FileOpenFlags, ResolveFlags.RESOLVE_BENEATH | ResolveFlags.RESOLVE_NO_MAGICLINKS, out errno);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static OpenOutcome Finish(SafeFileHandle candidate, out SafeFileHandle? handle, out FileStatus status)
    {
        var errno = Interop.FStat(candidate, out status);
        if (errno != Errno.None)
        {
            candidate.Dispose();
            handle = null;
            throw new IOException($"fstat failed: {errno.Message()} ({errno}).");
        }

        if (status.Kind != FileKind.Regular)
        {
            candidate.Dispose();
            handle = null;
            return OpenOutcome.NotRegularFile;
        }

        handle = candidate;
        return OpenOutcome.Opened;
    }

    private static OpenOutcome Classify(Errno errno, string physicalPath) => errno switch
    {
        Errno.ENOENT or Errno.ENOTDIR or Errno.ELOOP or Errno.ENAMETOOLONG => OpenOutcome.NotFound,
        // A socket file refuses open(2) with ENXIO; a device without a driver with ENODEV.
        Errno.ENXIO or Errno.ENODEV or Errno.EISDIR => OpenOutcome.NotRegularFile,
        Errno.EACCES or Errno.EPERM => OpenOutcome.AccessDenied,
        _ => throw new IOException($"Opening '{physicalPath}' failed: {errno.Message()} ({errno})."),
    };

    private RootState CurrentState()
    {
        var now = Stopwatch.GetTimestamp();
        if (now < Volatile.Read(ref _nextCheck))
        {
            return _state;
        }

        lock (_refreshLock)
        {
            if (now < _nextCheck)
            {
                return _state;
            }

            _nextCheck = now + s_revalidateTicks;
            var current = _state;
            if (Interop.Stat(_rootPathBytes, out var status) == Errno.None
                && (status.Inode != current.Inode || status.DeviceMajor != current.DevMajor || status.DeviceMinor != current.DevMinor))
            {
                var fresh = OpenState();
                if (fresh is not null)
                {
                    _state = fresh;
                    // In-flight opens may still hold the old descriptor; SafeHandle reference
                    // counting closes it after the last of them.
                    current.Descriptor.Dispose();
                }
            }

            return _state;
        }
    }

    private RootState? OpenState()
    {
        var descriptor = Interop.OpenDirectoryPath(_rootPathBytes, out _);
        if (descriptor.IsInvalid)
        {
            return null;
        }

        if (Interop.FStat(descriptor, out var status) != Errno.None)
        {
            descriptor.Dispose();
            return null;
        }

        var real = Interop.PathOfDescriptor(descriptor) ?? Interop.RealPath(_rootPath) ?? _rootPath;
        real = real == "/" ? real : real + "/";
        return new RootState(descriptor, status.Inode, status.DeviceMajor, status.DeviceMinor, real);
    }

    public void Dispose() => _state.Descriptor.Dispose();
}

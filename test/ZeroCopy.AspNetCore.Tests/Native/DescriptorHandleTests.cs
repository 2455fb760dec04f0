using System.Runtime.Versioning;
using ZeroCopy.AspNetCore.Files;
using ZeroCopy.AspNetCore.Native;
using ZeroCopy.AspNetCore.Tests.Infrastructure;

namespace ZeroCopy.AspNetCore.Tests.Native;

/// <summary>
/// Descriptor-creating calls in Native/ give their int result to a handle: -1 stays an invalid
/// handle holding exactly -1 with errno set, a descriptor becomes a usable handle. Linux only.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class DescriptorHandleTests
{
    public DescriptorHandleTests()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("Linux only: file descriptors through Native.Interop.");
        }
    }

    [Fact]
    public void RootDirectory_on_a_missing_path_throws()
    {
        using var temp = new TempDirectory("zc-fd");
        using (new RootDirectory(temp.Path))
        {
        }

        Assert.Throws<DirectoryNotFoundException>(() => new RootDirectory(temp.Combine("missing")));
    }

    [Fact]
    public void Open_of_a_missing_absolute_path_returns_an_invalid_handle_with_ENOENT()
    {
        using var temp = new TempDirectory("zc-fd");
        var missing = Interop.NullTerminated(temp.Combine("missing.txt"));

        using var file = Interop.Open(missing, OpenFlags.O_RDONLY | OpenFlags.O_CLOEXEC, out var errno);
        Assert.True(file.IsInvalid);
        Assert.Equal((nint)(-1), file.DangerousGetHandle());
        Assert.Equal(Errno.ENOENT, errno);

        using var directory = Interop.OpenDirectoryPath(missing, out errno);
        Assert.True(directory.IsInvalid);
        Assert.Equal((nint)(-1), directory.DangerousGetHandle());
        Assert.Equal(Errno.ENOENT, errno);

        temp.Write("present.txt", "abc");
        using var present = Interop.Open(Interop.NullTerminated(temp.Combine("present.txt")), OpenFlags.O_RDONLY | OpenFlags.O_CLOEXEC, out errno);
        Assert.False(present.IsInvalid);
        Assert.Equal(Errno.None, errno);
        Assert.Equal(Errno.None, Interop.FStat(present, out var status));
        Assert.Equal(3, status.Size);
    }

    [Fact]
    public void MemfdCreate_returns_a_valid_handle_that_can_be_fstated_and_disposed()
    {
        var memfd = Interop.MemfdCreate("zc-descriptor-test", out var errno);
        Assert.Equal(Errno.None, errno);
        Assert.False(memfd.IsInvalid);
        Assert.InRange(memfd.DangerousGetHandle(), 0, int.MaxValue);

        RandomAccess.Write(memfd, "hello"u8, 0);
        Assert.Equal(Errno.None, Interop.FStat(memfd, out var status));
        Assert.Equal(FileKind.Regular, status.Kind);
        Assert.Equal(5, status.Size);

        memfd.Dispose();
        Assert.True(memfd.IsClosed);
        Assert.Throws<ObjectDisposedException>(() => Interop.FStat(memfd, out _));
    }
}

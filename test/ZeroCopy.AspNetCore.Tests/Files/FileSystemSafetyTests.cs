using System.Diagnostics;
using System.Net;

namespace ZeroCopy.AspNetCore.Tests.Files;

/// <summary>
/// What is never served: files outside the root reached through symlinks, and anything that is not
/// a regular file (a FIFO would block stock forever). Linux only.
/// </summary>
public sealed class FileSystemSafetyTests : IDisposable
{
    private readonly TempDirectory _root = new("zc-safe");
    private readonly TempDirectory _outside = new("zc-outside");

    public FileSystemSafetyTests()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Linux only: symlinks, FIFOs and sockets as served files.");
    }

    public void Dispose()
    {
        _root.Dispose();
        _outside.Dispose();
    }

    [Theory]
    [InlineData(HostKind.TestServer)]
    [InlineData(HostKind.Kestrel)]
    public async Task Symlinks_that_leave_the_root_are_not_served(HostKind kind)
    {
        _outside.Write("canary.txt", "CANARY");
        _outside.Write("dir/inner.txt", "CANARY-DIR");
        File.CreateSymbolicLink(_root.Combine("relative.txt"), "../" + Path.GetFileName(_outside.Path) + "/canary.txt");
        File.CreateSymbolicLink(_root.Combine("absolute.txt"), _outside.Combine("canary.txt"));
        Directory.CreateSymbolicLink(_root.Combine("linkdir"), _outside.Combine("dir"));
        await using var host = await Hosts.ZeroCopyAsync(kind, _root);

        foreach (var path in new[] { "/relative.txt", "/absolute.txt", "/linkdir/inner.txt" })
        {
            using var response = await host.Client.GetAsync(path, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.DoesNotContain("CANARY", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        }

        Assert.Equal(3, host.Logs.ForEvent("OutsideRoot").Count());
    }

    [Fact]
    public async Task Symlinks_that_stay_inside_the_root_are_served_with_the_target_length()
    {
        var target = _root.WriteRandom("real/data.bin", 12_345, seed: 5);
        File.CreateSymbolicLink(_root.Combine("relative.bin"), "real/data.bin");
        // Absolute symlinks are refused by openat2(RESOLVE_BENEATH) and must be re-checked, not refused.
        File.CreateSymbolicLink(_root.Combine("absolute.bin"), target);
        Directory.CreateSymbolicLink(_root.Combine("alias"), _root.Combine("real"));
        await using var host = await Hosts.ZeroCopyAsync(HostKind.Kestrel, _root);

        foreach (var path in new[] { "/relative.bin", "/absolute.bin", "/alias/data.bin" })
        {
            using var response = await host.Client.GetAsync(path, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(12_345, response.Content.Headers.ContentLength);
            Assert.Equal(File.ReadAllBytes(target), await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        }
    }

    [Theory]
    [InlineData(HostKind.TestServer)]
    [InlineData(HostKind.Kestrel)]
    public async Task A_fifo_is_refused_without_blocking(HostKind kind)
    {
        Posix.CreateFifo(_root.Combine("pipe.txt"));
        await using var host = await Hosts.ZeroCopyAsync(kind, _root);

        var stopwatch = Stopwatch.StartNew();
        using var response = await host.Client.GetAsync("/pipe.txt", TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(2), $"took {stopwatch.Elapsed}");
        Assert.Single(host.Logs.ForEvent("NotRegularFile"));
    }

    [Fact]
    public async Task A_unix_socket_file_is_refused()
    {
        using var socket = Posix.CreateSocketFile(_root.Combine("control.txt"));
        await using var host = await Hosts.ZeroCopyAsync(HostKind.Kestrel, _root);

        using var response = await host.Client.GetAsync("/control.txt", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task A_device_node_is_refused()
    {
        if (!Posix.TryCreateNullDevice(_root.Combine("device.txt")))
        {
            Assert.Skip("mknod is not permitted here.");
        }

        await using var host = await Hosts.ZeroCopyAsync(HostKind.Kestrel, _root);

        using var response = await host.Client.GetAsync("/device.txt", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task A_root_switched_to_another_directory_is_followed()
    {
        // Deployments often swap a symlinked root to a new release.
        var releases = new TempDirectory("zc-releases");
        try
        {
            releases.Write("r1/v.txt", "one");
            releases.Write("r2/v.txt", "two");
            var current = releases.Combine("current");
            Directory.CreateSymbolicLink(current, releases.Combine("r1"));
            await using var host = await TestHost.StartAsync(
                HostKind.TestServer,
                _root.Path,
                b => b.Services.AddZeroCopyStaticFiles(),
                app => app.UseZeroCopyStaticFiles(new Microsoft.AspNetCore.Builder.StaticFileOptions
                {
                    FileProvider = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(current),
                }));
            Assert.Equal("one", await host.Client.GetStringAsync("/v.txt", TestContext.Current.CancellationToken));

            var next = releases.Combine("next");
            Directory.CreateSymbolicLink(next, releases.Combine("r2"));
            Posix.Rename(next, current);

            // The root descriptor is re-validated at most once a second.
            var deadline = Stopwatch.StartNew();
            string body;
            do
            {
                body = await host.Client.GetStringAsync("/v.txt", TestContext.Current.CancellationToken);
                if (body == "two")
                {
                    break;
                }

                await Task.Delay(50, TestContext.Current.CancellationToken);
            }
            while (deadline.Elapsed < TimeSpan.FromSeconds(5));

            Assert.Equal("two", body);
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(2.5), $"took {deadline.Elapsed}");
        }
        finally
        {
            releases.Dispose();
        }
    }
}

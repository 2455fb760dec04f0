namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>
/// The transport's promise covers file bodies too: a Kestrel app serving a file with
/// <c>Results.File</c> sees the same completion, aborts and half-closes whether Kestrel's socket
/// transport copies the file or the zero-copy transport sends it with sendfile/splice. Each
/// zero-copy run asserts the kernel path really carried the body.
/// </summary>
public sealed class FileBodyConformanceTests(FileBodyFixture files) : IClassFixture<FileBodyFixture>
{
    private const int FileSize = FileBodyFixture.FileSize;
    private static readonly TimeSpan s_wait = FileBodyFixture.Wait;

    [Theory]
    [InlineData(TransportKind.Socket, ZeroCopyMode.Auto)]
    [InlineData(TransportKind.ZeroCopy, ZeroCopyMode.SendFile)]
    [InlineData(TransportKind.ZeroCopy, ZeroCopyMode.Splice)]
    [InlineData(TransportKind.EventLoop, ZeroCopyMode.SendFile)]
    [InlineData(TransportKind.EventLoop, ZeroCopyMode.Splice)]
    public async Task File_body_is_byte_exact_and_the_connection_is_reused(TransportKind kind, ZeroCopyMode mode)
    {
        // The kernel-path proof runs last here: its download would be a second connection.
        await using var file = await files.StartAsync(kind, mode, proveKernelPathFirst: false);
        var (host, outcome, _) = file;
        await using var client = await host.ConnectAsync();
        for (var i = 0; i < 2; i++)
        {
            await client.SendAsync(Wire.Request("GET", "/file"));
            var response = await client.ReadResponseAsync();
            Assert.Equal(FileSize.ToString(System.Globalization.CultureInfo.InvariantCulture), response.Header("Content-Length"));
            Assert.True(response.Body.AsSpan().SequenceEqual(ConformanceData.Large.AsSpan(0, FileSize)), "file body differs");
        }

        Assert.Equal("completed; RequestAborted=False", await outcome.Task.Within(s_wait, "the endpoint"));
        Assert.Equal(1, host.ConnectionCount);
        await file.AssertKernelPathAsync();
        host.AssertClean();
    }

    /// <summary>
    /// What the app sees of a file body: on Kestrel's transport <c>await Results.File(...)</c> (i.e.
    /// SendFileAsync) completes once the body went out, so for a client that has stopped reading it
    /// does not complete, and request logs and duration metrics cover the transfer.
    /// </summary>
    [Theory]
    [InlineData(ZeroCopyMode.SendFile)]
    [InlineData(ZeroCopyMode.Splice)]
    public Task SendFileAsync_does_not_complete_while_a_stalled_client_has_most_of_the_body_still_to_receive(ZeroCopyMode mode)
        => Compare.SameConcurrentlyAsync(
            async kind =>
            {
                await using var file = await files.StartAsync(kind, mode);
                var (host, outcome, _) = file;
                await using var client = await FileBodyFixture.StartStalledDownloadAsync(host);

                // The client stalls with 23 of 24 MiB unread: a bounded look at whether the app is done.
                var completedEarly = await Task.WhenAny(outcome.Task, Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken)) == outcome.Task;
                var early = completedEarly ? outcome.Task.Result : "still sending";
                var rest = await client.ReadExactAsync(FileSize - (1024 * 1024) + 100, s_wait);
                var app = await outcome.Task.Within(s_wait, "the endpoint after the client read everything");
                host.AssertClean();
                return $"while the client stalled: {early}; after it read the body: {app}";
            },
            (kind, observed) => Assert.True(
                observed == "while the client stalled: still sending; after it read the body: completed; RequestAborted=False",
                $"{kind}: {observed}"));

    [Theory]
    [InlineData(ZeroCopyMode.SendFile)]
    [InlineData(ZeroCopyMode.Splice)]
    public Task Client_reset_mid_file_body_is_quiet_and_identical_on_the_wire(ZeroCopyMode mode)
        => Compare.SameAsync(async kind =>
        {
            await using var file = await files.StartAsync(kind, mode);
            var (host, _, connectionClosed) = file;
            await using (var client = await host.ConnectAsync())
            {
                await client.SendAsync(Wire.Request("GET", "/file"));
                await client.ReadExactAsync(4 * 1024 * 1024, s_wait);
                client.Reset();
            }

            await connectionClosed.Task.Within(s_wait, "the server to notice the reset");
            await ConnectionLifecycleConformanceTests.AssertHealthyAsync(host);
            host.AssertClean();
            return "connection closed; server healthy; no error logs";
        });

    /// <summary>
    /// On Kestrel's transport a FIN from the client while the body is still being sent aborts the
    /// request (Abort(null)): the body is cut and the connection ends with FIN, every time. The
    /// scenario runs a few times because a difference here can be a race.
    /// </summary>
    [Theory]
    [InlineData(ZeroCopyMode.SendFile)]
    [InlineData(ZeroCopyMode.Splice)]
    public Task Half_close_mid_file_body_cuts_the_body_and_ends_with_FIN_on_both_transports(ZeroCopyMode mode)
        => Compare.SameAsync(async kind =>
        {
            await using var file = await files.StartAsync(kind, mode);
            var (host, _, _) = file;
            var outcomes = new SortedSet<string>(StringComparer.Ordinal);
            // Stock cuts every time; stop at the first other outcome.
            for (var i = 0; i < 5 && outcomes.All(o => o == "Fin, body cut"); i++)
            {
                await using var client = await FileBodyFixture.StartStalledDownloadAsync(host);
                client.ShutdownSend();
                var end = await client.ReadToEndAsync(s_wait);
                var whole = (1024 * 1024) + end.Data.Length >= FileSize;
                outcomes.Add($"{end.Kind}, {(whole ? "whole body" : "body cut")}");
            }

            await ConnectionLifecycleConformanceTests.AssertHealthyAsync(host);
            host.AssertClean();
            return string.Join(" | ", outcomes);
        });
}

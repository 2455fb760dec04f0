using System.Diagnostics;

namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>
/// Tests that count the process's open descriptors: they run alone, after the parallel tests, so
/// no other test opens or closes descriptors meanwhile.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DescriptorCountingGroup
{
    public const string Name = "Conformance: descriptor counting (serial)";
}

/// <summary>Scenario 7 (resources): connections ended by the client leak no descriptors.</summary>
[Collection(DescriptorCountingGroup.Name)]
public sealed class ResourceConformanceTests
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task Open_descriptors_return_to_baseline_after_clients_reset_and_abort_connections(TransportKind kind)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "/proc/self/fd exists only on Linux.");

        var started = 0;
        var finished = 0;
        await using var host = await ConformanceHost.StartAsync(kind, app =>
        {
            app.MapGet("/ping", () => "pong");
            app.MapGet("/endless", async context =>
            {
                try
                {
                    var chunk = ConformanceData.Large.AsMemory(0, 64 * 1024);
                    for (long written = 0; written < (4L << 30) && !context.RequestAborted.IsCancellationRequested; written += chunk.Length)
                    {
                        await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
                    }
                }
                catch (OperationCanceledException)
                {
                }
                finally
                {
                    Interlocked.Increment(ref finished);
                }
            });
            app.MapPost("/upload", async context =>
            {
                var failed = false;
                try
                {
                    var buffer = new byte[16 * 1024];
                    var first = true;
                    while (await context.Request.Body.ReadAsync(buffer) > 0)
                    {
                        if (first)
                        {
                            first = false;
                            Interlocked.Increment(ref started);
                        }
                    }
                }
                catch (Exception)
                {
                    failed = true;
                }

                // Returning at once after a failed body read can make Kestrel log
                // RequestBodyDrainBodyReaderInvalidState (an Error, on both transports): wait until
                // Kestrel has seen the connection end, as a real app observing RequestAborted would.
                if (failed)
                {
                    await Poll.UntilAsync(() => context.RequestAborted.IsCancellationRequested, s_wait);
                }

                Interlocked.Increment(ref finished);
            });
        });

        var baseline = Posix.OpenDescriptorCount();
        var expectedFinished = 0;

        // One round of every kind of abort, then check the descriptors came back: this warms up
        // whatever is created lazily and proves the warm-up itself released what it opened.
        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < 4; i++)
            {
                await using var client = await host.ConnectAsync();
                if (i % 2 == 0)
                {
                    await client.SendAsync(Wire.Request("GET", "/endless"));
                    await client.ReadExactAsync(1024 * 1024, s_wait);
                }
                else
                {
                    await client.SendAsync(Wire.Request("POST", "/upload", "Content-Length: 1048576"));
                    await client.SendAsync(ConformanceData.Large.AsMemory(0, 32 * 1024));

                    // Abort only once the endpoint runs (an RST can otherwise beat the request).
                    var uploads = (expectedFinished / 2) + 1;
                    Assert.True(await Poll.UntilAsync(() => Volatile.Read(ref started) >= uploads, s_wait), $"{kind}: upload {uploads} did not start.");
                }

                if (i < 2)
                {
                    client.Reset();
                }

                expectedFinished++;
            }

            var all = expectedFinished;
            Assert.True(await Poll.UntilAsync(() => Volatile.Read(ref finished) >= all, s_wait), $"{kind}: only {finished} of {all} aborted requests finished.");
            var stopwatch = Stopwatch.StartNew();
            var settled = await Poll.UntilAsync(() => Posix.OpenDescriptorCount() <= baseline, s_wait);
            TestContext.Current.TestOutputHelper?.WriteLine($"{kind} round {round}: baseline {baseline}, now {Posix.OpenDescriptorCount()}, settled={settled} after {stopwatch.ElapsedMilliseconds} ms");
            Assert.True(settled, $"{kind}: {Posix.OpenDescriptorCount()} descriptors open after round {round}, baseline {baseline}.\n{Posix.DescribeDescriptors()}");
        }

        await ConnectionLifecycleConformanceTests.AssertHealthyAsync(host);
        host.AssertClean(minimumConnections: 13);
    }
}

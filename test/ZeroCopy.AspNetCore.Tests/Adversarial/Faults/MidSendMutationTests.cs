using System.Diagnostics;
using System.Globalization;

namespace ZeroCopy.AspNetCore.Tests.Adversarial.Faults;

/// <summary>What happens to a file on disk while its body is being sent.</summary>
public enum Mutation
{
    /// <summary>ftruncate to half its length, in place.</summary>
    Truncate,

    /// <summary>
    /// What <c>cp new old</c> does: open with O_TRUNC (length 0), then write a new version of the
    /// same length into the same inode.
    /// </summary>
    TruncateAndRewrite,

    /// <summary>A new version written beside it and renamed over it (rename(2)).</summary>
    RenameOver,

    /// <summary>unlink(2).</summary>
    Delete,
}

/// <summary>
/// Case 4 (faults): a file truncated, rewritten, replaced or deleted in the middle of its download,
/// on every strategy. The rule: the connection ends early (FIN or RST, never a hang), or the body
/// completes byte-exact as the version its headers describe. A body whose length reaches
/// Content-Length is compared byte for byte (and by SHA-256) with that version.
/// </summary>
/// <remarks>
/// Method: a client with a 64 KiB receive buffer asks for a 16 MiB file and reads 1 MiB, so the
/// server is blocked on a full socket in the middle of the body (at most a few MiB ahead); the file
/// is then changed and the client reads on at full speed, with a 10 s idle timeout (a hang). Each
/// strategy is first checked to be the one sending (a clean download counted under its metric).
/// Afterwards a fresh request must see the new state of the file (the hot cache within its
/// validity window).
/// </remarks>
[Collection(SerialTests.Name)]
public sealed class MidSendMutationTests : IDisposable
{
    private const int Length = 16 << 20;
    private const int ReadBeforeMutation = 1 << 20;
    private const int TruncatedLength = 8 << 20;
    private static readonly TimeSpan s_idle = TimeSpan.FromSeconds(10);
    private readonly TempDirectory _root = new("zc-mutate");

    public MidSendMutationTests() => FaultHosts.RequireLinux();

    public void Dispose() => _root.Dispose();

    public static TheoryData<ZeroCopyTransportEngine, FaultStrategy, Mutation> Cases()
        => Engines.Cross([.. Enum.GetValues<FaultStrategy>().SelectMany(_ => Enum.GetValues<Mutation>(), static (strategy, mutation) => (strategy, mutation))]);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_file_changed_mid_download_ends_the_connection_or_completes_the_old_version_byte_exact(ZeroCopyTransportEngine engine, FaultStrategy strategy, Mutation mutation)
    {
        Engines.Require(engine);
        var ct = TestContext.Current.CancellationToken;
        var versionA = RandomBytes(Length, seed: 11);
        var versionB = RandomBytes(Length, seed: 12);
        var path = _root.Write("f.bin", versionA);
        await using var host = await FaultHosts.StartAsync(_root, strategy, engine, snapshotMaxBytes: Length);
        using var metrics = FaultHosts.Metrics(host);

        // The strategy under test is the one sending (and, for the cache, the entry is admitted).
        await DownloadExactAsync(host.Port, versionA, ct);
        var tag = FaultHosts.MetricTag(strategy);
        Assert.True(await Poll.UntilAsync(() => metrics.Responses(tag) == 1, TimeSpan.FromSeconds(5)), $"not sent by {tag}: {metrics.Dump()}");

        using var connection = await WireClient.ConnectAsync(host.Port, receiveBuffer: 64 * 1024);
        await connection.SendAsync(Wire.Get("/f.bin"));
        var head = await connection.ReadHeadAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(200, head.Status);
        Assert.Equal(Length, head.ContentLength);
        using var check = new BodyCheck(versionA, hash: true);
        var first = await connection.ReadBodyAsync(Length, check.Append, s_idle, stopAt: ReadBeforeMutation);
        Assert.Equal(BodyEnd.Stopped, first.End);

        Mutate(path, mutation, versionB);
        var afterMutation = Stopwatch.StartNew();
        var rest = await connection.ReadBodyAsync(Length - first.Bytes, check.Append, s_idle);
        var received = first.Bytes + rest.Bytes;
        var end = rest.End;
        var exact = end == BodyEnd.Complete && check.Finish();
        Figures.Report(
            $"mutation {mutation} during a {Length >> 20} MiB download, {strategy}, {engine} engine",
            $"{end} after {received} of {Length} bytes, {Figures.Seconds(afterMutation.Elapsed)} after the change; "
            + (end == BodyEnd.Complete ? (exact ? "byte-exact (SHA-256 of version A)" : $"WRONG BYTES from offset {check.FirstMismatch}") : "short body"));

        // The rule, whatever the strategy.
        Assert.True(end != BodyEnd.Hang, $"the download hung after {received} bytes");
        Assert.True(
            end != BodyEnd.Complete || exact,
            $"a body of Content-Length bytes is not the version its headers describe: first wrong byte at offset {check.FirstMismatch} (of {Length})");

        // What each strategy is designed to do.
        var oldVersionSurvives = mutation is Mutation.RenameOver or Mutation.Delete || strategy == FaultStrategy.CachedSnapshot;
        if (oldVersionSurvives)
        {
            Assert.True(exact, $"the old version should complete byte-exact ({rest}, first mismatch {check.FirstMismatch})");
        }
        else if (mutation == Mutation.Truncate)
        {
            Assert.True(end is BodyEnd.Fin or BodyEnd.Reset, $"a truncated file must end the body early: {rest}");
            Assert.True(check.FirstMismatch < 0, $"the short body differs from the file before the cut, at offset {check.FirstMismatch}");
            Assert.True(received <= TruncatedLength, $"{received} bytes received from a file cut at {TruncatedLength}");
        }

        // A fresh request sees the file as it is now (the hot cache within its validity window).
        var fresh = Stopwatch.StartNew();
        byte[]? expectedNow = mutation switch
        {
            Mutation.Truncate => versionA[..TruncatedLength],
            Mutation.Delete => null,
            _ => versionB,
        };
        Assert.True(
            await AsyncPoll.UntilAsync(() => FreshMatchesAsync(host.Port, expectedNow), TimeSpan.FromSeconds(10)),
            "a fresh request does not see the new state of the file");
        Figures.Report($"mutation {mutation}, {strategy}, {engine} engine: a fresh request sees the new state after", Figures.Seconds(fresh.Elapsed));
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static void Mutate(string path, Mutation mutation, byte[] versionB)
    {
        switch (mutation)
        {
            case Mutation.Truncate:
                using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
                {
                    stream.SetLength(TruncatedLength);
                }

                break;
            case Mutation.TruncateAndRewrite:
                // FileMode.Truncate is open(O_TRUNC) on the same inode, as cp does.
                using (var stream = new FileStream(path, FileMode.Truncate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
                {
                    stream.Write(versionB);
                }

                break;
            case Mutation.RenameOver:
                File.WriteAllBytes(path + ".new", versionB);
                Posix.Rename(path + ".new", path);
                break;
            case Mutation.Delete:
                File.Delete(path);
                break;
        }
    }

    private static async Task DownloadExactAsync(int port, byte[] expected, CancellationToken ct)
    {
        using var connection = await WireClient.ConnectAsync(port);
        await connection.SendAsync(Wire.Get("/f.bin"));
        var head = await connection.ReadHeadAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(200, head.Status);
        using var check = new BodyCheck(expected, hash: true);
        var read = await connection.ReadBodyAsync(head.ContentLength, check.Append, s_idle);
        Assert.Equal(BodyEnd.Complete, read.End);
        Assert.True(check.Finish(), "the clean download is not byte-exact at " + check.FirstMismatch.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>True when a new request gets exactly <paramref name="expected"/> (null: a 404).</summary>
    private static async Task<bool> FreshMatchesAsync(int port, byte[]? expected)
    {
        using var connection = await WireClient.ConnectAsync(port);
        await connection.SendAsync(Wire.Get("/f.bin"));
        var head = await connection.ReadHeadAsync(TimeSpan.FromSeconds(30));
        if (expected is null)
        {
            return head.Status == 404;
        }

        if (head.Status != 200 || head.ContentLength != expected.Length)
        {
            return false;
        }

        using var check = new BodyCheck(expected, hash: false);
        var read = await connection.ReadBodyAsync(head.ContentLength, check.Append, s_idle);
        return read.End == BodyEnd.Complete && check.Finish();
    }
}

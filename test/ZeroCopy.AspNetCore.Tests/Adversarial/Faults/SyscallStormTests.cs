using System.Globalization;
using System.Runtime.Versioning;
using System.Text;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Tests.Adversarial.Faults;

/// <summary>
/// Case 4 (kernel storms), through the <c>ZeroCopySyscalls</c> seam: every other sendfile/splice
/// call fails with EINTR, bursts of EAGAIN hit the calls that write to the socket, and short
/// transfers (which the kernel may return at any time) move every offset. Bodies from 1 byte to
/// 64 MiB, whole and as ranges, sequential and pipelined, must complete byte-exact. Hard errors in
/// the middle of a body must end the connection early (never a hang, never a complete-looking
/// wrong body) and leave the server healthy.
/// </summary>
/// <remarks>
/// Beyond the first N calls failing (FallbackTests): faults
/// interleaved through the whole transfer, short counts, all sizes, ranges, pipelining, the
/// hot-cache memfd path, and failures after bytes were already sent.
/// </remarks>
[SupportedOSPlatform("linux")]
public sealed class SyscallStormTests : IDisposable
{
    private static readonly int[] s_sizes = [1, 2, 4095, 4096, 4097, 65535, 65537, (1 << 20) + 3, (16 << 20) - 1, 64 << 20];
    private readonly TempDirectory _root = new("zc-storm");

    public SyscallStormTests() => FaultHosts.RequireLinux();

    public void Dispose() => _root.Dispose();

    public static TheoryData<ZeroCopyTransportEngine, FaultStrategy, bool> Storms => Engines.Cross(
        (FaultStrategy.SendFile, true),
        (FaultStrategy.SendFile, false),
        (FaultStrategy.Splice, true),
        (FaultStrategy.CachedSnapshot, true));

    /// <remarks>
    /// On the Sockets engine, with the SendFile strategy, the first EAGAIN of a region hands the rest
    /// of it to the runtime (Socket.SendPacketsAsync, whose own sendfile loop is not behind the seam),
    /// so the storm reaches sendfile only up to that point; the run without EAGAIN keeps every
    /// sendfile call of every body behind the seam.
    /// </remarks>
    [Theory]
    [MemberData(nameof(Storms))]
    public async Task An_EINTR_and_EAGAIN_storm_completes_every_body_from_1_byte_to_64_MiB_byte_exact(ZeroCopyTransportEngine engine, FaultStrategy strategy, bool eagain)
    {
        Engines.Require(engine);
        var ct = TestContext.Current.CancellationToken;
        var files = s_sizes.ToDictionary(size => size, size => File.ReadAllBytes(_root.WriteRandom($"s{size}.bin", size, seed: size)));
        var syscalls = new ScriptedSyscalls(
            sendFile: ScriptedSyscalls.Storm(eagain),
            spliceFromFile: ScriptedSyscalls.Storm(eagain: false),
            spliceToSocket: ScriptedSyscalls.Storm(eagain));
        await using var host = await FaultHosts.StartAsync(
            _root,
            strategy,
            engine,
            snapshotMaxBytes: 64L << 20,
            configure: b => b.Services.Configure<ZeroCopyTransportOptions>(o => o.Syscalls = syscalls));
        using var metrics = FaultHosts.Metrics(host);

        // Each size whole and as two ranges, one request at a time, then all pipelined on a
        // connection with a small receive buffer (real EAGAIN on top of the injected ones).
        var requests = s_sizes.SelectMany(size => Requests(size)).ToList();
        using (var connection = await WireClient.ConnectAsync(host.Port))
        {
            foreach (var (size, range) in requests)
            {
                await connection.SendAsync(Request(size, range));
                await ReadExactAsync(connection, files[size], range, ct);
            }
        }

        using (var connection = await WireClient.ConnectAsync(host.Port, receiveBuffer: 64 * 1024))
        {
            var pipelined = new StringBuilder();
            foreach (var (size, range) in requests)
            {
                pipelined.Append(Request(size, range));
            }

            await connection.SendAsync(pipelined.ToString());
            foreach (var (size, range) in requests)
            {
                await ReadExactAsync(connection, files[size], range, ct);
            }
        }

        var tag = FaultHosts.MetricTag(strategy);
        Figures.Report(
            $"{(eagain ? "EINTR/EAGAIN" : "EINTR")} storm with short transfers, {strategy}, {engine} engine, {requests.Count * 2} bodies of 1 B..64 MiB (whole, ranges, pipelined)",
            $"all byte-exact; {syscalls}; responses counted: {metrics.Dump()}");
        Assert.True(await Poll.UntilAsync(() => metrics.Responses(tag) == requests.Count * 2, TimeSpan.FromSeconds(5)), metrics.Dump());
        Assert.True(syscalls.InjectedEintr > 50, syscalls.ToString());
        Assert.True(syscalls.InjectedShort > 10, syscalls.ToString());
        Assert.True(eagain == syscalls.InjectedEagain > 0, syscalls.ToString());
        Assert.Equal(0, metrics.Total("zerocopy.fallbacks"));
    }

    public static TheoryData<ZeroCopyTransportEngine, FaultStrategy, string, string> HardErrors() => Engines.Cross(
        (FaultStrategy.SendFile, "sendfile", nameof(Errno.EIO)),
        (FaultStrategy.SendFile, "sendfile", nameof(Errno.EINVAL)),
        (FaultStrategy.SendFile, "sendfile", nameof(Errno.ENOMEM)),
        (FaultStrategy.CachedSnapshot, "sendfile", nameof(Errno.EIO)),
        (FaultStrategy.Splice, "splice-file", nameof(Errno.EIO)),
        (FaultStrategy.Splice, "splice-file", nameof(Errno.EINVAL)),
        // Not an answer Linux gives for a regular file into an empty pipe (a cold file blocks and
        // returns a short count instead): whatever the library does, the rule must hold.
        (FaultStrategy.Splice, "splice-file", nameof(Errno.EAGAIN)),
        (FaultStrategy.Splice, "splice-socket", nameof(Errno.EIO)),
        (FaultStrategy.Splice, "splice-socket", nameof(Errno.ENOMEM)));

    [Theory]
    [MemberData(nameof(HardErrors))]
    public async Task A_hard_error_after_bytes_were_sent_ends_the_body_early_and_the_server_stays_healthy(ZeroCopyTransportEngine engine, FaultStrategy strategy, string call, string errnoName)
    {
        Engines.Require(engine);
        var errno = Enum.Parse<Errno>(errnoName);
        var ct = TestContext.Current.CancellationToken;
        const int Length = 4 << 20;
        var expected = File.ReadAllBytes(_root.WriteRandom("f.bin", Length, seed: 31));
        // Calls 0..2 move 64 KiB each (so bytes are on the wire), call 3 fails, the rest pass.
        Func<long, Injection> script = n => n < 3 ? Injection.Short(64 * 1024) : n == 3 ? Injection.Fail(errno) : Injection.Pass;
        var syscalls = call switch
        {
            "sendfile" => new ScriptedSyscalls(sendFile: script),
            "splice-file" => new ScriptedSyscalls(spliceFromFile: script),
            _ => new ScriptedSyscalls(spliceToSocket: script),
        };
        await using var host = await FaultHosts.StartAsync(
            _root,
            strategy,
            engine,
            configure: b => b.Services.Configure<ZeroCopyTransportOptions>(o => o.Syscalls = syscalls));

        using (var connection = await WireClient.ConnectAsync(host.Port))
        {
            await connection.SendAsync(Wire.Get("/f.bin"));
            var head = await connection.ReadHeadAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(200, head.Status);
            using var check = new BodyCheck(expected, hash: true);
            var read = await connection.ReadBodyAsync(Length, check.Append, TimeSpan.FromSeconds(10));
            Figures.Report($"{errno} from {call} after 192 KiB, {strategy}, {engine} engine", $"{read}; {syscalls}");
            Assert.True(read.End != BodyEnd.Hang, "the body hung after " + read.Bytes.ToString(CultureInfo.InvariantCulture) + " bytes");
            Assert.True(read.End != BodyEnd.Complete || check.Finish(), $"a complete body with wrong bytes from {check.FirstMismatch}");
            Assert.True(check.FirstMismatch < 0, $"wrong bytes before the end, at {check.FirstMismatch}");
            if (errno != Errno.EAGAIN)
            {
                Assert.True(read.End is BodyEnd.Fin or BodyEnd.Reset, $"a body whose send failed must end early: {read}");
            }
        }

        // The next connection is served in full.
        using (var connection = await WireClient.ConnectAsync(host.Port))
        {
            await connection.SendAsync(Wire.Get("/f.bin"));
            await ReadExactAsync(connection, expected, null, ct);
        }
    }

    private static IEnumerable<(int Size, (long Start, long End)? Range)> Requests(int size)
    {
        yield return (size, null);
        if (size >= 3)
        {
            yield return (size, (1, size - 2));
            yield return (size, (size / 3, size - 1));
        }
        else
        {
            yield return (size, (size - 1, size - 1));
        }
    }

    private static string Request(int size, (long Start, long End)? range)
        => range is { } r
            ? Wire.Get($"/s{size}.bin", string.Create(CultureInfo.InvariantCulture, $"Range: bytes={r.Start}-{r.End}"))
            : Wire.Get($"/s{size}.bin");

    private static async Task ReadExactAsync(WireClient connection, byte[] file, (long Start, long End)? range, CancellationToken ct)
    {
        var head = await connection.ReadHeadAsync(TimeSpan.FromSeconds(30));
        var (start, count) = range is { } r ? (r.Start, r.End - r.Start + 1) : (0L, (long)file.Length);
        Assert.Equal(range is null ? 200 : 206, head.Status);
        Assert.Equal(count, head.ContentLength);
        using var check = new BodyCheck(file.AsMemory((int)start, (int)count), hash: true);
        var read = await connection.ReadBodyAsync(count, check.Append, TimeSpan.FromSeconds(10));
        Assert.True(read.End == BodyEnd.Complete, $"{file.Length} B file, range {range}: {read}");
        Assert.True(check.Finish(), $"{file.Length} B file, range {range}: wrong bytes from {check.FirstMismatch}");
    }
}

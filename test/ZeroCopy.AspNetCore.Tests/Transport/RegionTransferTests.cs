using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Native;
using ZeroCopy.AspNetCore.Transport;

namespace ZeroCopy.AspNetCore.Tests.Transport;

/// <summary>
/// <see cref="RegionTransfer"/> driven directly, as the event loop drives it: synchronous steps on
/// a non-blocking loopback TCP socket with small buffers, poll(2) for writability on
/// <see cref="RegionStep.WouldBlock"/>. The receiver starts reading only after the first
/// WouldBlock, so every run really fills the socket.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class RegionTransferTests : IDisposable
{
    private const int Length = (4 << 20) + 123;
    private const long SmallBudget = (8 * 1024) + 1;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly TempDirectory _root = new("zc-transfer");
    private readonly LogCollector _logs = new();
    private readonly RegionRateMonitor _monitor = new();
    private readonly SplicePipePool _pipes = new(requestedSize: 64 * 1024, maxPooled: 4);
    private readonly string _path;
    private readonly byte[] _expected;

    public RegionTransferTests()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "RegionTransfer needs Linux.");
        _path = _root.WriteRandom("f.bin", Length, seed: 15);
        _expected = File.ReadAllBytes(_path);
    }

    public void Dispose()
    {
        _pipes.Dispose();
        _monitor.Dispose();
        _logs.Dispose();
        _root.Dispose();
    }

    public enum Engine
    {
        SendFile,
        Splice,
        Copy,
    }

    [Theory]
    [InlineData(Engine.SendFile, long.MaxValue)]
    [InlineData(Engine.SendFile, SmallBudget)]
    [InlineData(Engine.Splice, long.MaxValue)]
    [InlineData(Engine.Splice, SmallBudget)]
    [InlineData(Engine.Copy, long.MaxValue)]
    [InlineData(Engine.Copy, SmallBudget)]
    public async Task Every_engine_sends_a_multi_MiB_file_byte_exact_through_WouldBlock_within_the_budget(Engine engine, long budget)
    {
        using var rig = Start(engine);
        var (transfer, region) = (rig.Transfer, rig.Region);
        Assert.Same(region, transfer.Region);
        var run = await DriveAsync(transfer, rig.Pair, budget);

        Assert.Equal(RegionStep.Done, run.Last);
        Assert.Equal(RegionOutcome.Sent, transfer.Outcome);
        Assert.True(run.WouldBlock > 0, run.ToString());
        Assert.True(run.MaxMoved <= budget, run.ToString());
        Assert.Equal(budget != long.MaxValue, run.Progress > 0);
        Assert.True(_expected.AsSpan().SequenceEqual(run.Received), $"received {run.Received.Length} of {_expected.Length} bytes, not byte-exact");

        Assert.Null(transfer.Region);
        var expectedEngine = engine switch
        {
            Engine.SendFile => RegionEngine.SendFile,
            Engine.Splice => RegionEngine.Splice,
            _ => RegionEngine.Copy,
        };
        Assert.Equal(new RegionResult(RegionOutcome.Sent, expectedEngine, Length, engine == Engine.Copy ? 2 : 0), region.Result);
        Assert.Equal(engine == Engine.Copy ? 2 : 0, _logs.ForEvent("EngineFallback").Count());
        Assert.Equal(0, region.Remaining);
        // The splice pipe (also the one splice was refused with, for Copy) went back empty.
        Assert.Equal(engine == Engine.SendFile ? 0 : 1, _pipes.Pooled);
    }

    [Theory]
    [InlineData(Engine.SendFile)]
    [InlineData(Engine.Splice)]
    [InlineData(Engine.Copy)]
    public async Task A_file_shorter_than_the_region_ends_it_as_FileEnded_after_the_bytes_it_has(Engine engine)
    {
        const int Kept = Length / 2;
        // No identity: the size check would call the truncation FileChanged before EOF is reached.
        using var rig = Start(engine, identity: false);
        var (transfer, region) = (rig.Transfer, rig.Region);
        RandomAccess.SetLength(rig.File, Kept);
        var run = await DriveAsync(transfer, rig.Pair, long.MaxValue);

        Assert.Equal(RegionOutcome.FileEnded, transfer.Outcome);
        Assert.True(_expected.AsSpan(0, Kept).SequenceEqual(run.Received), $"received {run.Received.Length} bytes, expected the first {Kept}");
        Assert.Equal(RegionOutcome.FileEnded, region.Result?.Outcome);
        Assert.Equal(Kept, region.Result?.BytesSent);
        Assert.Empty(_logs.ForEvent("RegionSyscallFailed"));
    }

    [Theory]
    [InlineData(Engine.SendFile)]
    [InlineData(Engine.Splice)]
    [InlineData(Engine.Copy)]
    public async Task A_file_rewritten_mid_transfer_ends_it_as_FileChanged(Engine engine)
    {
        using var rig = Start(engine);
        var (transfer, region) = (rig.Transfer, rig.Region);
        // What cp over the file does: truncate the same inode and write it again. Longer, so the
        // size tells the versions apart even within one tick of the file system's coarse mtime clock.
        var run = await DriveAsync(transfer, rig.Pair, long.MaxValue, onFirstWouldBlock: () => File.WriteAllBytes(_path, new byte[Length + 4096]));

        Assert.Equal(RegionOutcome.FileChanged, transfer.Outcome);
        Assert.Equal(RegionOutcome.FileChanged, region.Result?.Outcome);
        Assert.True(run.Received.Length < Length, run.ToString());
        if (engine == Engine.Splice)
        {
            // The new version's bytes were spliced into the pipe and never sent: it is closed.
            Assert.Equal(0, _pipes.Pooled);
        }
    }

    [Fact]
    public async Task Finish_reports_once_returns_the_empty_pipe_and_lets_the_next_region_start()
    {
        using var rig = Start(Engine.Splice);
        var transfer = rig.Transfer;
        await DriveAsync(transfer, rig.Pair, long.MaxValue);
        transfer.Finish();
        transfer.Finish();

        Assert.Equal(1, rig.Observer.Calls);
        Assert.Equal(RegionOutcome.Sent, transfer.Outcome);
        Assert.Equal(1, _pipes.Pooled);
        Assert.Null(transfer.Region);
        Assert.Throws<InvalidOperationException>(() => transfer.Step(rig.Pair.Sender.SafeHandle, long.MaxValue));

        using var next = Region(rig.File, Engine.Splice, identity: true, observer: null);
        transfer.Start(next);
        Assert.Same(next, transfer.Region);
        transfer.Finish();
        Assert.Equal(RegionOutcome.Aborted, next.Result?.Outcome);
    }

    [Fact]
    public void Finish_mid_region_reports_Aborted_and_closes_a_pipe_that_still_holds_bytes()
    {
        using var rig = Start(Engine.Splice);
        var (transfer, region) = (rig.Transfer, rig.Region);
        // Nobody reads: the socket fills and splice leaves bytes in the pipe.
        RegionStep step;
        do
        {
            step = transfer.Step(rig.Pair.Sender.SafeHandle, long.MaxValue);
        }
        while (step == RegionStep.Progress);

        Assert.Equal(RegionStep.WouldBlock, step);
        Assert.True(region.Remaining > 0);
        transfer.Finish();

        Assert.Equal(RegionOutcome.Aborted, transfer.Outcome);
        Assert.Equal(RegionOutcome.Aborted, region.Result?.Outcome);
        Assert.Equal(1, rig.Observer.Calls);
        Assert.Equal(0, _pipes.Pooled);
    }

    /// <summary>A socket pair, the file opened, a transfer and a region of the whole file, started.</summary>
    private Rig Start(Engine engine, bool identity = true)
    {
        var pair = SocketPair.Create();
        var file = File.OpenHandle(_path, FileMode.Open, FileAccess.ReadWrite);
        var observer = new CountingObserver();
        var region = Region(file, engine, identity, observer);
        var transfer = Transfer(engine);
        transfer.Start(region);
        return new Rig(pair, file, transfer, region, observer);
    }

    private RegionTransfer Transfer(Engine engine)
    {
        // Copy: the file system "refuses" both zero-copy calls before the first byte.
        var syscalls = engine == Engine.Copy
            ? new ScriptedSyscalls(sendFile: _ => Injection.Fail(Errno.EINVAL), spliceFromFile: _ => Injection.Fail(Errno.EINVAL))
            : null;
        var settings = new ConnectionSettings
        {
            InputOptions = PipeOptions.Default,
            OutputOptions = PipeOptions.Default,
            MemoryPool = MemoryPool<byte>.Shared,
            WaitForDataBeforeAllocatingBuffer = false,
            MaxQueuedRegions = 16,
            FinOnError = false,
            NoDelay = true,
            RegionReleaseThreshold = 64 * 1024,
            RateMonitor = _monitor,
            Syscalls = syscalls,
            Pipes = _pipes,
        };
        return new RegionTransfer(settings, _logs.CreateLogger(nameof(RegionTransferTests)), new Owner());
    }

    private FileRegion Region(Microsoft.Win32.SafeHandles.SafeFileHandle file, Engine engine, bool identity, IFileRegionObserver? observer)
    {
        FileStatus? status = null;
        if (identity)
        {
            Assert.Equal(Errno.None, Interop.FStat(file, out var now));
            status = now;
        }

        var mode = engine switch
        {
            Engine.SendFile => ZeroCopyMode.SendFile,
            Engine.Splice => ZeroCopyMode.Splice,
            _ => ZeroCopyMode.Auto,
        };
        return new FileRegion(file, 0, Length, mode, minDataRate: null, _path) { Identity = status, Observer = observer };
    }

    /// <summary>
    /// Steps the transfer to the end on a thread of its own (poll for writability on WouldBlock),
    /// then shuts the sender down; the receiver starts after the first WouldBlock.
    /// </summary>
    private static async Task<Run> DriveAsync(RegionTransfer transfer, SocketPair pair, long budget, Action? onFirstWouldBlock = null)
    {
        var blocked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cancel = new CancellationTokenSource(Timeout);
        var receiving = ReceiveAsync(pair.Receiver, blocked.Task, cancel.Token);
        var run = await Task.Run(
            () =>
            {
                var region = transfer.Region!;
                var (progress, wouldBlock, maxMoved) = (0, 0, 0L);
                RegionStep step;
                do
                {
                    var before = region.Remaining;
                    step = transfer.Step(pair.Sender.SafeHandle, budget);
                    maxMoved = Math.Max(maxMoved, before - region.Remaining);
                    if (step == RegionStep.Progress)
                    {
                        progress++;
                    }
                    else if (step == RegionStep.WouldBlock)
                    {
                        if (wouldBlock++ == 0)
                        {
                            onFirstWouldBlock?.Invoke();
                            blocked.TrySetResult();
                        }

                        if (!pair.Sender.Poll(Timeout, SelectMode.SelectWrite))
                        {
                            throw new TimeoutException("The socket did not become writable.");
                        }
                    }
                }
                while (step != RegionStep.Done);

                blocked.TrySetResult();
                transfer.Finish();
                pair.Sender.Shutdown(SocketShutdown.Send);
                return new Run(step, progress, wouldBlock, maxMoved, []);
            },
            cancel.Token);
        return run with { Received = await receiving };
    }

    private static async Task<byte[]> ReceiveAsync(Socket receiver, Task blocked, CancellationToken cancel)
    {
        await blocked.WaitAsync(cancel);
        using var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await receiver.ReceiveAsync(buffer, SocketFlags.None, cancel)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        return received.ToArray();
    }

    private sealed record Run(RegionStep Last, int Progress, int WouldBlock, long MaxMoved, byte[] Received)
    {
        public override string ToString()
            => $"last {Last}, {Progress} Progress, {WouldBlock} WouldBlock, at most {MaxMoved} bytes a step, {Received.Length} bytes received";
    }

    /// <summary>A connected loopback TCP pair: a non-blocking sender and a receiver, both with small buffers.</summary>
    private sealed class SocketPair : IDisposable
    {
        private SocketPair(Socket sender, Socket receiver)
        {
            Sender = sender;
            Receiver = receiver;
        }

        public Socket Sender { get; }

        public Socket Receiver { get; }

        public static SocketPair Create()
        {
            using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            // Inherited by the accepted socket.
            listener.ReceiveBufferSize = 16 * 1024;
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(1);
            var sender = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { SendBufferSize = 16 * 1024 };
            sender.Connect(listener.LocalEndPoint!);
            var receiver = listener.Accept();
            // O_NONBLOCK, as both engines run their sockets.
            sender.Blocking = false;
            return new SocketPair(sender, receiver);
        }

        public void Dispose()
        {
            Sender.Dispose();
            Receiver.Dispose();
        }
    }

    private sealed record Rig(SocketPair Pair, Microsoft.Win32.SafeHandles.SafeFileHandle File, RegionTransfer Transfer, FileRegion Region, CountingObserver Observer) : IDisposable
    {
        public void Dispose()
        {
            Transfer.Dispose();
            Region.Dispose();
            File.Dispose();
            Pair.Dispose();
        }
    }

    private sealed class Owner : IRegionOwner
    {
        public string ConnectionId => "test";

        public bool IsShutDown => false;
    }

    private sealed class CountingObserver : IFileRegionObserver
    {
        public int Calls { get; private set; }

        public void RegionCompleted(FileRegion region, RegionResult result) => Calls++;
    }
}

using System.Net.Sockets;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>
/// The Sockets engine's driver of <see cref="RegionTransfer"/>: sends one <see cref="FileRegion"/>
/// at a time for a connection, stepping the transfer while the socket takes bytes and waiting for a
/// full socket without a thread.
/// </summary>
/// <remarks>
/// <para>
/// SendFile: sendfile(2) is called directly while the socket accepts bytes. On EAGAIN the next chunk
/// goes through <see cref="Socket.SendPacketsAsync(SocketAsyncEventArgs)"/>, whose Unix
/// implementation waits on the runtime's epoll engine and then calls sendfile(2) itself, so no
/// thread blocks and no file byte is read into user memory. SendPacketsElement requires an
/// asynchronous FileStream; the region's descriptor (opened O_NONBLOCK, not "async" to the
/// runtime) is re-opened through /proc/self/fd for that, which names the very same file.
/// </para>
/// <para>
/// Splice: file → pipe → socket. When the socket is full, up to 16 KiB are read from the pipe (not
/// from the file) and sent with an ordinary async send, which waits for the socket without a
/// thread; splicing resumes after it. Copy: the buffer's unsent tail is sent the same way.
/// </para>
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed class RegionSender : IDisposable
{
    // Bytes handed to one SendPacketsAsync: the file is re-checked between chunks.
    private const int PacketChunk = 1 << 20;

    private readonly Socket _socket;
    private readonly ILogger _logger;
    private readonly IRegionOwner _owner;
    private readonly RegionTransfer _transfer;
    private PacketSender? _packets;
    private FileStream? _asyncStream;

    public RegionSender(Socket socket, ConnectionSettings settings, ILogger logger, IRegionOwner owner)
    {
        _socket = socket;
        _logger = logger;
        _owner = owner;
        _transfer = new RegionTransfer(settings, logger, owner);
    }

    /// <summary>Sends the region and reports its <see cref="RegionResult"/> to it.</summary>
    public async ValueTask<RegionOutcome> SendAsync(FileRegion region)
    {
        _transfer.Start(region);
        // What an exception leaves: an unexpected one fails the region, as a failed syscall does.
        var unfinished = RegionOutcome.Failed;
        try
        {
            while (true)
            {
                // The whole region in one step: a connection of this engine has its own send loop.
                var step = _transfer.Step(_socket.SafeHandle, long.MaxValue);
                if (step == RegionStep.Done || (step == RegionStep.WouldBlock && await WaitAsync(region) == RegionStep.Done))
                {
                    break;
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // The socket was closed underneath: an abort.
            unfinished = RegionOutcome.Aborted;
        }
        catch (SocketException ex)
        {
            unfinished = Classify(ex.SocketErrorCode, region);
        }
        finally
        {
            if (_asyncStream is not null)
            {
                await _asyncStream.DisposeAsync();
                _asyncStream = null;
            }

            _transfer.Finish(unfinished);
        }

        return _transfer.Outcome;
    }

    /// <summary>The socket is full: the runtime waits for it and sends the next bytes.</summary>
    private async ValueTask<RegionStep> WaitAsync(FileRegion region)
    {
        if (_transfer.Engine == RegionEngine.SendFile)
        {
            return await SendWithRuntimeAsync(region);
        }

        var held = _transfer.TakeHeld();
        await _socket.SendAsync(held, SocketFlags.None);
        return _transfer.Advance(held.Length);
    }

    /// <summary>Lets the runtime wait for the socket and sendfile the next chunk.</summary>
    private async ValueTask<RegionStep> SendWithRuntimeAsync(FileRegion region)
    {
        if (_asyncStream is null)
        {
            var reopened = ReopenAsynchronous(region.File);
            if (reopened is null)
            {
                // No /proc: finish this region by copying rather than blocking a thread.
                _transfer.CopyRest();
                return RegionStep.Progress;
            }

            _asyncStream = reopened;
        }

        var offset = _transfer.Offset;
        var chunk = (int)Math.Min(_transfer.Untaken, PacketChunk);
        _packets ??= new PacketSender();
        var result = await _packets.SendAsync(_socket, _asyncStream, offset, chunk);
        if (result.HasError)
        {
            if (result.Error!.SocketErrorCode == SocketError.InvalidArgument && !_owner.IsShutDown
                && RandomAccess.GetLength(region.File) < offset + chunk)
            {
                // The runtime checks the length first and refuses a range past the end.
                return End(RegionOutcome.FileEnded);
            }

            return End(Classify(result.Error.SocketErrorCode, region));
        }

        if (_transfer.Advance(result.BytesTransferred) == RegionStep.Done)
        {
            return RegionStep.Done;
        }

        return result.BytesTransferred < chunk ? End(RegionOutcome.FileEnded) : RegionStep.Progress;
    }

    private RegionStep End(RegionOutcome outcome)
    {
        _transfer.Finish(outcome);
        return RegionStep.Done;
    }

    private static FileStream? ReopenAsynchronous(SafeFileHandle file)
    {
        try
        {
            var handle = Interop.Reopen(file, FileOptions.Asynchronous);
            return new FileStream(handle, FileAccess.Read, bufferSize: 0, isAsync: true);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private RegionOutcome Classify(SocketError error, FileRegion region)
    {
        if (_owner.IsShutDown)
        {
            return RegionOutcome.Aborted;
        }

        switch (error)
        {
            case SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted:
                return RegionOutcome.ConnectionReset;
            case SocketError.OperationAborted or SocketError.Interrupted:
                return RegionOutcome.Aborted;
            default:
                TransportLog.RegionSyscallFailed(_logger, _owner.ConnectionId, region.Path, "send", error.ToString(), error.ToString());
                return RegionOutcome.Failed;
        }
    }

    public void Dispose()
    {
        _packets?.Dispose();
        _asyncStream?.Dispose();
        _transfer.Dispose();
    }

    /// <summary>SendPacketsAsync with one file element, awaitable without allocating a Task.</summary>
    private sealed class PacketSender() : AwaitableSocketEventArgs(System.IO.Pipelines.PipeScheduler.Inline)
    {
        private readonly SendPacketsElement[] _elements = new SendPacketsElement[1];

        public ValueTask<SocketOperationResult> SendAsync(Socket socket, FileStream file, long offset, int count)
        {
            _elements[0] = new SendPacketsElement(file, offset, count, endOfPacket: true);
            SendPacketsElements = _elements;
            return Result(socket.SendPacketsAsync(this));
        }
    }
}

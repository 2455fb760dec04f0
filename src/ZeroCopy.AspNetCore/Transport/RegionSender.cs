using System.Buffers;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>
/// Sends one <see cref="FileRegion"/> at a time for a connection: sendfile(2), splice(2) through a
/// pipe, or (when the file system refuses both) pread + send.
/// </summary>
/// <remarks>
/// <para>
/// SendFile: sendfile(2) is called directly while the socket accepts bytes. On EAGAIN the rest
/// goes through <see cref="Socket.SendPacketsAsync(SocketAsyncEventArgs)"/>, whose Unix
/// implementation waits on the runtime's epoll engine and then calls sendfile(2) itself, so no
/// thread blocks and no file byte is read into user memory. SendPacketsElement requires an
/// asynchronous FileStream; the region's descriptor (opened O_NONBLOCK, not "async" to the
/// runtime) is re-opened through /proc/self/fd for that, which names the very same file.
/// </para>
/// <para>
/// Splice: file → pipe → socket. When the socket is full, up to 16 KiB are read from the pipe (not
/// from the file) and sent with an ordinary async send, which waits for the socket without a
/// thread; splicing resumes after it.
/// </para>
/// <para>
/// sendfile/splice report a file that ended early as success with fewer bytes (or 0 at EOF); the
/// region then ends with <see cref="RegionOutcome.FileEnded"/> and the connection is closed.
/// </para>
/// <para>
/// After every transfer the descriptor is fstat'ed and compared with the identity the headers were
/// computed from (as the Stream strategy does after every read): a file truncated and rewritten
/// mid-send (what <c>cp</c> over it does) ends the region with
/// <see cref="RegionOutcome.FileChanged"/> and the connection is reset, instead of completing the
/// body with bytes of the new version behind bytes of the old. Bytes already queued in the socket
/// keep the old pages (truncation detaches them), so what the client got before the reset is old
/// bytes. A change that lands inside the very last transfer cannot be told apart from one after it;
/// an in-place overwrite that keeps size and modification time is invisible to any stat check.
/// </para>
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed class RegionSender : IDisposable
{
    // Bytes handed to one SendPacketsAsync: the file is re-checked between chunks.
    private const int PacketChunk = 1 << 20;
    private const int WaitChunk = 16 * 1024;
    private const int CopyChunk = 64 * 1024;

    private readonly Socket _socket;
    private readonly ConnectionSettings _settings;
    private readonly ZeroCopySyscalls _syscalls;
    private readonly ILogger _logger;
    private readonly ZeroCopyConnection _connection;
    private PacketSender? _packets;
    private FileStream? _asyncStream;
    private long _offset;
    private long _remaining;
    private int _fallbacks;

    public RegionSender(Socket socket, ConnectionSettings settings, ILogger logger, ZeroCopyConnection connection)
    {
        _socket = socket;
        _settings = settings;
        _syscalls = settings.Syscalls ?? ZeroCopySyscalls.Linux;
        _logger = logger;
        _connection = connection;
    }

    /// <summary>Sends the region and reports its <see cref="RegionResult"/> to it.</summary>
    public async ValueTask<RegionOutcome> SendAsync(FileRegion region)
    {
        _offset = region.Offset;
        _remaining = region.Count;
        var engine = region.Mode == ZeroCopyMode.Splice ? RegionEngine.Splice : RegionEngine.SendFile;
        _fallbacks = 0;
        var outcome = RegionOutcome.Failed;
        try
        {
            outcome = engine == RegionEngine.SendFile ? await SendFileAsync(region) : await SpliceAsync(region);
            if (outcome == RegionOutcome.Unsupported && engine == RegionEngine.SendFile && region.Mode == ZeroCopyMode.Auto)
            {
                engine = Fallback(region, engine, RegionEngine.Splice);
                outcome = await SpliceAsync(region);
            }

            if (outcome == RegionOutcome.Unsupported)
            {
                engine = Fallback(region, engine, RegionEngine.Copy);
                outcome = await CopyAsync(region);
            }
        }
        catch (ObjectDisposedException)
        {
            // The socket was closed underneath: an abort.
            outcome = RegionOutcome.Aborted;
        }
        catch (SocketException ex)
        {
            outcome = Classify(ex.SocketErrorCode, region);
        }
        finally
        {
            if (_asyncStream is not null)
            {
                await _asyncStream.DisposeAsync();
                _asyncStream = null;
            }

            region.Complete(outcome, engine, _fallbacks);
        }

        return outcome;
    }

    /// <returns><paramref name="to"/>.</returns>
    private RegionEngine Fallback(FileRegion region, RegionEngine from, RegionEngine to)
    {
        TransportLog.EngineFallback(_logger, _connection.ConnectionId, region.Path, from.Name(), to.Name());
        _fallbacks++;
        return to;
    }

    private async ValueTask<RegionOutcome> SendFileAsync(FileRegion region)
    {
        while (_remaining > 0)
        {
            var sent = _syscalls.SendFile(_socket.SafeHandle, region.File, ref _offset, _remaining, out var errno);
            if (sent > 0)
            {
                _remaining -= sent;
                if (!IsUnchanged(region))
                {
                    return RegionOutcome.FileChanged;
                }

                region.ReportRemaining(_remaining);
                continue;
            }

            if (sent == 0)
            {
                return RegionOutcome.FileEnded;
            }

            switch (errno)
            {
                case Errno.EINTR:
                    continue;
                case Errno.EAGAIN:
                    var waited = await SendWithRuntimeAsync(region);
                    if (waited != RegionOutcome.Sent)
                    {
                        return waited;
                    }

                    continue;
                case Errno.EINVAL or Errno.ENOSYS or Errno.EOPNOTSUPP when _remaining == region.Count:
                    return RegionOutcome.Unsupported;
                default:
                    return Failure(errno, region, "sendfile");
            }
        }

        return RegionOutcome.Sent;
    }

    /// <summary>The socket is full: let the runtime wait for it and sendfile the next chunk.</summary>
    private async ValueTask<RegionOutcome> SendWithRuntimeAsync(FileRegion region)
    {
        if (_asyncStream is null)
        {
            var reopened = ReopenAsynchronous(region.File);
            if (reopened is null)
            {
                // No /proc: finish this region by copying rather than blocking a thread.
                // The rest is copied; the region still counts as sent with sendfile.
                Fallback(region, RegionEngine.SendFile, RegionEngine.Copy);
                return await CopyAsync(region);
            }

            _asyncStream = reopened;
        }

        var chunk = (int)Math.Min(_remaining, PacketChunk);
        _packets ??= new PacketSender();
        var result = await _packets.SendAsync(_socket, _asyncStream, _offset, chunk);
        if (result.HasError)
        {
            if (result.Error!.SocketErrorCode == SocketError.InvalidArgument && !IsAborted()
                && RandomAccess.GetLength(region.File) < _offset + chunk)
            {
                // The runtime checks the length first and refuses a range past the end.
                return RegionOutcome.FileEnded;
            }

            return Classify(result.Error.SocketErrorCode, region);
        }

        _offset += result.BytesTransferred;
        _remaining -= result.BytesTransferred;
        if (!IsUnchanged(region))
        {
            return RegionOutcome.FileChanged;
        }

        region.ReportRemaining(_remaining);
        return result.BytesTransferred < chunk ? RegionOutcome.FileEnded : RegionOutcome.Sent;
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

    private async ValueTask<RegionOutcome> SpliceAsync(FileRegion region)
    {
        var rentError = Errno.ENOSYS;
        var pipe = _settings.Pipes?.Rent(out rentError);
        if (pipe is null)
        {
            TransportLog.RegionSyscallFailed(_logger, _connection.ConnectionId, region.Path, "pipe2", rentError.ToString(), rentError.Message());
            return RegionOutcome.Unsupported;
        }

        long inPipe = 0;
        var clean = false;
        try
        {
            while (_remaining > 0 || inPipe > 0)
            {
                if (inPipe == 0)
                {
                    var moved = _syscalls.SpliceFromFile(region.File, ref _offset, pipe.Write, Math.Min(_remaining, pipe.Capacity), SpliceFlags.SPLICE_F_MOVE | SpliceFlags.SPLICE_F_NONBLOCK, out var readErrno);
                    if (moved > 0)
                    {
                        _remaining -= moved;
                        inPipe = moved;
                        if (!IsUnchanged(region))
                        {
                            // The pipe's bytes may be the new version's: they never reach the socket.
                            return RegionOutcome.FileChanged;
                        }
                    }
                    else if (moved == 0)
                    {
                        clean = true;
                        return RegionOutcome.FileEnded;
                    }
                    else if (readErrno == Errno.EINTR)
                    {
                        continue;
                    }
                    else if (readErrno is Errno.EINVAL or Errno.ENOSYS or Errno.EOPNOTSUPP && _remaining == region.Count)
                    {
                        clean = true;
                        return RegionOutcome.Unsupported;
                    }
                    else
                    {
                        return Failure(readErrno, region, "splice(file)");
                    }
                }

                var flags = SpliceFlags.SPLICE_F_MOVE | SpliceFlags.SPLICE_F_NONBLOCK | (_remaining > 0 ? SpliceFlags.SPLICE_F_MORE : SpliceFlags.None);
                var sent = _syscalls.SpliceToSocket(pipe.Read, _socket.SafeHandle, inPipe, flags, out var errno);
                if (sent > 0)
                {
                    inPipe -= sent;
                    region.ReportRemaining(_remaining + inPipe);
                    continue;
                }

                if (sent == 0)
                {
                    return Failure(Errno.EIO, region, "splice(socket)");
                }

                switch (errno)
                {
                    case Errno.EINTR:
                        continue;
                    case Errno.EAGAIN:
                        inPipe -= await SendFromPipeAsync(pipe, inPipe);
                        region.ReportRemaining(_remaining + inPipe);
                        continue;
                    default:
                        return Failure(errno, region, "splice(socket)");
                }
            }

            clean = true;
            return RegionOutcome.Sent;
        }
        finally
        {
            if (clean && inPipe == 0)
            {
                _settings.Pipes!.Return(pipe);
            }
            else
            {
                pipe.Dispose();
            }
        }
    }

    /// <summary>Waits for the full socket by sending a few pipe bytes with an ordinary async send.</summary>
    private async ValueTask<long> SendFromPipeAsync(SplicePipe pipe, long inPipe)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(WaitChunk);
        try
        {
            int read;
            Errno errno;
            do
            {
                read = Interop.Read(pipe.Read, buffer.AsSpan(0, (int)Math.Min(inPipe, WaitChunk)), out errno);
            }
            while (read < 0 && errno == Errno.EINTR);

            if (read <= 0)
            {
                throw new IOException($"Reading the splice pipe failed: {errno.Message()} ({errno}).");
            }

            await _socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
            return read;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The last resort when the file system refuses sendfile and splice: pread + send.</summary>
    private async ValueTask<RegionOutcome> CopyAsync(FileRegion region)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(CopyChunk);
        try
        {
            while (_remaining > 0)
            {
                var read = RandomAccess.Read(region.File, buffer.AsSpan(0, (int)Math.Min(_remaining, CopyChunk)), _offset);
                if (read == 0)
                {
                    return RegionOutcome.FileEnded;
                }

                if (!IsUnchanged(region))
                {
                    return RegionOutcome.FileChanged;
                }

                await _socket.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
                _offset += read;
                _remaining -= read;
                region.ReportRemaining(_remaining);
            }

            return RegionOutcome.Sent;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private bool IsAborted() => _connection.IsShutDown;

    /// <summary>
    /// The file still has the inode, device, size and modification time the headers describe. A
    /// failing fstat proves nothing either way and lets the send continue (sendfile would fail too).
    /// </summary>
    private static bool IsUnchanged(FileRegion region)
    {
        if (region.Identity is not { } identity)
        {
            return true;
        }

        return Interop.FStat(region.File, out var now) != Errno.None || identity.IsSameVersion(now);
    }

    private RegionOutcome Classify(SocketError error, FileRegion region)
    {
        if (IsAborted())
        {
            return RegionOutcome.Aborted;
        }

        return error switch
        {
            SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted => RegionOutcome.ConnectionReset,
            SocketError.OperationAborted or SocketError.Interrupted => RegionOutcome.Aborted,
            _ => Failure(error.ToString(), region),
        };
    }

    private RegionOutcome Failure(Errno errno, FileRegion region, string call)
    {
        if (IsAborted() || errno is Errno.EBADF or Errno.ENOTSOCK)
        {
            return RegionOutcome.Aborted;
        }

        if (errno is Errno.EPIPE or Errno.ECONNRESET)
        {
            return RegionOutcome.ConnectionReset;
        }

        TransportLog.RegionSyscallFailed(_logger, _connection.ConnectionId, region.Path, call, errno.ToString(), errno.Message());
        return RegionOutcome.Failed;
    }

    private RegionOutcome Failure(string error, FileRegion region)
    {
        TransportLog.RegionSyscallFailed(_logger, _connection.ConnectionId, region.Path, "send", error, error);
        return RegionOutcome.Failed;
    }

    public void Dispose()
    {
        _packets?.Dispose();
        _asyncStream?.Dispose();
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

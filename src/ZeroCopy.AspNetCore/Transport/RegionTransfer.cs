using System.Buffers;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>
/// Moves one <see cref="FileRegion"/> at a time from its file into a non-blocking socket, in
/// synchronous steps that never wait for the socket: sendfile(2), splice(2) through a pipe, or
/// (when the file system refuses both) pread + send. Engine-independent: a driver calls
/// <see cref="Step"/>, waits for the socket on <see cref="RegionStep.WouldBlock"/> its own way
/// (the Sockets engine's <see cref="RegionSender"/>, the event loop's EPOLLOUT edge), and calls
/// <see cref="Finish()"/> once.
/// </summary>
/// <remarks>
/// <para>
/// Engines: the region's mode picks sendfile or splice. EINVAL/ENOSYS/EOPNOTSUPP before the first
/// byte means the file system does not support the call for this file: Auto goes on with splice,
/// then with pread + send; an explicit mode goes straight to pread + send. Each step down is logged
/// and counted in the region's result.
/// </para>
/// <para>
/// Nothing taken from the file is lost on EAGAIN: bytes spliced into the pipe wait there, bytes read
/// by pread wait in the copy buffer, and the next step sends them first. The splice pipe goes back
/// to the pool only empty: every splice result is accounted for at once, so "empty" is exact.
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
/// <para>Not thread-safe: one driver at a time (the connection's send loop or its event loop).</para>
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed class RegionTransfer : IDisposable
{
    private const int CopyChunk = 64 * 1024;

    // Bytes TakeHeld reads out of the splice pipe for a driver that waits with an ordinary send.
    private const int WaitChunk = 16 * 1024;

    private readonly ConnectionSettings _settings;
    private readonly ZeroCopySyscalls _syscalls;
    private readonly ILogger _logger;
    private readonly IRegionOwner _owner;

    private FileRegion? _region;
    private RegionOutcome? _outcome;
    private long _offset;
    private long _remaining;

    // The engine the result reports, and the one moving bytes now (they differ after CopyRest).
    private RegionEngine _engine;
    private RegionEngine _running;
    private int _fallbacks;

    private SplicePipe? _pipe;
    private long _inPipe;

    // Bytes taken from the file (pread, or read out of the pipe by TakeHeld) and not sent yet:
    // _buffer[_heldStart.._heldEnd].
    private byte[]? _buffer;
    private int _heldStart;
    private int _heldEnd;

    public RegionTransfer(ConnectionSettings settings, ILogger logger, IRegionOwner owner)
    {
        _settings = settings;
        _syscalls = settings.Syscalls ?? ZeroCopySyscalls.Linux;
        _logger = logger;
        _owner = owner;
    }

    /// <summary>The region started and not finished yet; null between regions.</summary>
    public FileRegion? Region => _region;

    /// <summary>
    /// How the region ended, once <see cref="Step"/> returned <see cref="RegionStep.Done"/> or
    /// <see cref="Finish()"/> ran; until then <see cref="RegionOutcome.Aborted"/> (what
    /// <see cref="Finish()"/> would report).
    /// </summary>
    public RegionOutcome Outcome => _outcome ?? RegionOutcome.Aborted;

    /// <summary>The engine moving the region's bytes now.</summary>
    public RegionEngine Engine => _running;

    /// <summary>File position of the next byte to take from the file.</summary>
    internal long Offset => _offset;

    /// <summary>Region bytes not taken from the file yet (not counting bytes held in the pipe or buffer).</summary>
    internal long Untaken => _remaining;

    /// <summary>Bytes taken from the file and not sent yet (in the splice pipe or the copy buffer).</summary>
    internal long Held => _inPipe + (_heldEnd - _heldStart);

    // What the region still has to send: ReportRemaining's figure.
    private long Unsent => _remaining + _inPipe + (_heldEnd - _heldStart);

    /// <summary>Begins <paramref name="region"/>: from its offset, with the engine its mode names.</summary>
    /// <exception cref="InvalidOperationException">The previous region was not finished.</exception>
    public void Start(FileRegion region)
    {
        if (_region is not null)
        {
            throw new InvalidOperationException("The previous region was not finished.");
        }

        _region = region;
        _outcome = null;
        _offset = region.Offset;
        _remaining = region.Count;
        _engine = _running = region.Mode == ZeroCopyMode.Splice ? RegionEngine.Splice : RegionEngine.SendFile;
        _fallbacks = 0;
        _inPipe = 0;
        _heldStart = _heldEnd = 0;
    }

    /// <summary>
    /// Moves at most <paramref name="budget"/> bytes of the region into <paramref name="socket"/>
    /// (non-blocking: O_NONBLOCK, or MSG_DONTWAIT for send) and says what is left to do.
    /// </summary>
    /// <exception cref="InvalidOperationException">No region was started.</exception>
    public RegionStep Step(SafeHandle socket, long budget)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(budget);
        var region = _region ?? throw new InvalidOperationException("No region was started.");
        if (_outcome is not null)
        {
            return RegionStep.Done;
        }

        long moved = 0;
        try
        {
            while (true)
            {
                var step = _running switch
                {
                    RegionEngine.SendFile => SendFileStep(socket, region, budget, ref moved),
                    RegionEngine.Splice => SpliceStep(socket, region, budget, ref moved),
                    _ => CopyStep(socket, region, budget, ref moved),
                };
                if (step is { } result)
                {
                    return result;
                }

                // null: the file system refused the engine before the first byte; the next one goes on.
            }
        }
        catch (ObjectDisposedException)
        {
            // The socket was closed underneath (SafeHandle refuses a closed handle): an abort.
            return End(RegionOutcome.Aborted);
        }
    }

    /// <summary>
    /// For a driver that waits for a full socket by sending ordinary bytes (the Sockets engine on
    /// the Splice and Copy engines): the bytes to send next, already taken from the file — the copy
    /// buffer's unsent tail, or up to 16 KiB read out of the splice pipe into it. Report what was
    /// sent with <see cref="Advance"/>. Empty when nothing is held (SendFile).
    /// </summary>
    /// <exception cref="IOException">Reading the splice pipe failed.</exception>
    internal ReadOnlyMemory<byte> TakeHeld()
    {
        if (_heldStart == _heldEnd && _pipe is not null && _inPipe > 0)
        {
            _buffer ??= ArrayPool<byte>.Shared.Rent(CopyChunk);
            int read;
            Errno errno;
            do
            {
                read = Interop.Read(_pipe.Read, _buffer.AsSpan(0, (int)Math.Min(_inPipe, WaitChunk)), out errno);
            }
            while (read < 0 && errno == Errno.EINTR);

            if (read <= 0)
            {
                throw new IOException($"Reading the splice pipe failed: {errno.Message()} ({errno}).");
            }

            _inPipe -= read;
            _heldStart = 0;
            _heldEnd = read;
        }

        return _buffer is null ? ReadOnlyMemory<byte>.Empty : _buffer.AsMemory(_heldStart, _heldEnd - _heldStart);
    }

    /// <summary>
    /// The driver sent <paramref name="sent"/> bytes for the transfer: the first bytes of
    /// <see cref="TakeHeld"/>, or, with nothing held (SendFile), the file's bytes at
    /// <see cref="Offset"/> (Socket.SendPacketsAsync). File bytes get the identity check.
    /// </summary>
    /// <returns><see cref="RegionStep.Done"/> when the region is over (the file changed).</returns>
    internal RegionStep Advance(long sent)
    {
        var region = _region ?? throw new InvalidOperationException("No region was started.");
        if (_outcome is not null)
        {
            return RegionStep.Done;
        }

        if (_heldStart < _heldEnd)
        {
            _heldStart += (int)sent;
            region.ReportRemaining(Unsent);
            return RegionStep.Progress;
        }

        _offset += sent;
        return TookFromFile(region, sent) ?? RegionStep.Progress;
    }

    /// <summary>
    /// The driver cannot wait for the SendFile engine (no /proc to re-open the file asynchronously):
    /// the rest of the region is copied with pread + send. The region still counts as sent with
    /// sendfile, with one more fallback.
    /// </summary>
    internal void CopyRest()
    {
        LogFallback(RegionEngine.SendFile, RegionEngine.Copy);
        _running = RegionEngine.Copy;
    }

    /// <summary>
    /// Reports the region's result to it (<see cref="FileRegion.Complete"/>) and lets go of it:
    /// returns an empty splice pipe to the pool and closes one that still holds bytes. Idempotent;
    /// a region not over yet (the connection was torn down) ends as
    /// <see cref="RegionOutcome.Aborted"/>.
    /// </summary>
    public void Finish() => Finish(RegionOutcome.Aborted);

    /// <summary><see cref="Finish()"/>, a region not over yet ending as <paramref name="unfinished"/>.</summary>
    internal void Finish(RegionOutcome unfinished)
    {
        if (_region is not { } region)
        {
            return;
        }

        _outcome ??= unfinished;
        _region = null;
        ReleasePipe();
        _heldStart = _heldEnd = 0;
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }

        region.Complete(_outcome.Value, _engine, _fallbacks);
    }

    public void Dispose() => Finish();

    private RegionStep? SendFileStep(SafeHandle socket, FileRegion region, long budget, ref long moved)
    {
        while (_remaining > 0)
        {
            if (moved >= budget)
            {
                return RegionStep.Progress;
            }

            var sent = _syscalls.SendFile(socket, region.File, ref _offset, Math.Min(_remaining, budget - moved), out var errno);
            if (sent > 0)
            {
                moved += sent;
                if (TookFromFile(region, sent) is { } changed)
                {
                    return changed;
                }

                continue;
            }

            if (sent == 0)
            {
                return End(RegionOutcome.FileEnded);
            }

            switch (errno)
            {
                case Errno.EINTR:
                    continue;
                case Errno.EAGAIN:
                    return RegionStep.WouldBlock;
                case Errno.EINVAL or Errno.ENOSYS or Errno.EOPNOTSUPP when _remaining == region.Count:
                    return Refused(region);
                default:
                    return End(Failure(errno, region, "sendfile"));
            }
        }

        return End(RegionOutcome.Sent);
    }

    private RegionStep? SpliceStep(SafeHandle socket, FileRegion region, long budget, ref long moved)
    {
        if (_pipe is null)
        {
            var rentError = Errno.ENOSYS;
            _pipe = _settings.Pipes?.Rent(out rentError);
            if (_pipe is null)
            {
                TransportLog.RegionSyscallFailed(_logger, _owner.ConnectionId, region.Path, "pipe2", rentError.ToString(), rentError.Message());
                return Refused(region);
            }
        }

        var pipe = _pipe;
        while (true)
        {
            if (SendHeld(socket, region, budget, ref moved) is { } held)
            {
                return held;
            }

            if (_inPipe == 0)
            {
                if (_remaining == 0)
                {
                    return End(RegionOutcome.Sent);
                }

                if (moved >= budget)
                {
                    return RegionStep.Progress;
                }

                var length = Math.Min(Math.Min(_remaining, pipe.Capacity), budget - moved);
                var filled = _syscalls.SpliceFromFile(region.File, ref _offset, pipe.Write, length, SpliceFlags.SPLICE_F_MOVE | SpliceFlags.SPLICE_F_NONBLOCK, out var readErrno);
                if (filled > 0)
                {
                    _remaining -= filled;
                    _inPipe = filled;
                    if (!IsUnchanged(region))
                    {
                        // The pipe's bytes may be the new version's: they never reach the socket.
                        return End(RegionOutcome.FileChanged);
                    }
                }
                else if (filled == 0)
                {
                    return End(RegionOutcome.FileEnded);
                }
                else if (readErrno == Errno.EINTR)
                {
                    continue;
                }
                else if (readErrno is Errno.EINVAL or Errno.ENOSYS or Errno.EOPNOTSUPP && _remaining == region.Count)
                {
                    return Refused(region);
                }
                else
                {
                    return End(Failure(readErrno, region, "splice(file)"));
                }
            }

            if (moved >= budget)
            {
                return RegionStep.Progress;
            }

            var count = Math.Min(_inPipe, budget - moved);
            // tcp(7) MSG_MORE (SPLICE_F_MORE): hold a partial segment while more of the region follows.
            var more = _remaining > 0 || count < _inPipe ? SpliceFlags.SPLICE_F_MORE : SpliceFlags.None;
            var sent = _syscalls.SpliceToSocket(pipe.Read, socket, count, SpliceFlags.SPLICE_F_MOVE | SpliceFlags.SPLICE_F_NONBLOCK | more, out var errno);
            if (sent > 0)
            {
                _inPipe -= sent;
                moved += sent;
                region.ReportRemaining(Unsent);
                continue;
            }

            if (sent == 0)
            {
                return End(Failure(Errno.EIO, region, "splice(socket)"));
            }

            switch (errno)
            {
                case Errno.EINTR:
                    continue;
                case Errno.EAGAIN:
                    return RegionStep.WouldBlock;
                default:
                    return End(Failure(errno, region, "splice(socket)"));
            }
        }
    }

    /// <summary>The last resort when the file system refuses sendfile and splice: pread + send.</summary>
    private RegionStep? CopyStep(SafeHandle socket, FileRegion region, long budget, ref long moved)
    {
        while (true)
        {
            if (SendHeld(socket, region, budget, ref moved) is { } held)
            {
                return held;
            }

            if (_remaining == 0)
            {
                return End(RegionOutcome.Sent);
            }

            if (moved >= budget)
            {
                return RegionStep.Progress;
            }

            _buffer ??= ArrayPool<byte>.Shared.Rent(CopyChunk);
            var length = (int)Math.Min(Math.Min(_remaining, CopyChunk), budget - moved);
            var read = RandomAccess.Read(region.File, _buffer.AsSpan(0, length), _offset);
            if (read == 0)
            {
                return End(RegionOutcome.FileEnded);
            }

            if (!IsUnchanged(region))
            {
                return End(RegionOutcome.FileChanged);
            }

            _offset += read;
            _remaining -= read;
            _heldStart = 0;
            _heldEnd = read;
        }
    }

    /// <summary>Sends the held bytes; null once none are left.</summary>
    private RegionStep? SendHeld(SafeHandle socket, FileRegion region, long budget, ref long moved)
    {
        while (_heldStart < _heldEnd)
        {
            if (moved >= budget)
            {
                return RegionStep.Progress;
            }

            var length = (int)Math.Min(_heldEnd - _heldStart, budget - moved);
            var sent = _syscalls.Send(socket, _buffer.AsSpan(_heldStart, length), default(SendFlags), out var errno);
            if (sent > 0)
            {
                _heldStart += (int)sent;
                moved += sent;
                region.ReportRemaining(Unsent);
                continue;
            }

            switch (sent < 0 ? errno : Errno.EIO)
            {
                case Errno.EINTR:
                    continue;
                case Errno.EAGAIN:
                    return RegionStep.WouldBlock;
                case var failed:
                    return End(Failure(failed, region, "send"));
            }
        }

        return null;
    }

    /// <summary><paramref name="count"/> bytes were taken from the file and sent: the identity check, then progress.</summary>
    /// <returns><see cref="RegionStep.Done"/> when the file changed; null to go on.</returns>
    private RegionStep? TookFromFile(FileRegion region, long count)
    {
        _remaining -= count;
        if (!IsUnchanged(region))
        {
            return End(RegionOutcome.FileChanged);
        }

        region.ReportRemaining(Unsent);
        return null;
    }

    /// <summary>The running engine was refused before the first byte: the next engine takes over.</summary>
    /// <returns>null, so <see cref="Step"/> goes on with the next engine.</returns>
    private RegionStep? Refused(FileRegion region)
    {
        var next = _running == RegionEngine.SendFile && region.Mode == ZeroCopyMode.Auto ? RegionEngine.Splice : RegionEngine.Copy;
        LogFallback(_running, next);
        _engine = _running = next;
        ReleasePipe();
        return null;
    }

    private void LogFallback(RegionEngine from, RegionEngine to)
    {
        TransportLog.EngineFallback(_logger, _owner.ConnectionId, _region?.Path, from.Name(), to.Name());
        _fallbacks++;
    }

    private void ReleasePipe()
    {
        if (_pipe is null)
        {
            return;
        }

        if (_inPipe == 0 && _settings.Pipes is { } pool)
        {
            pool.Return(_pipe);
        }
        else
        {
            // Bytes of this region still in it must never reach another response.
            _pipe.Dispose();
        }

        _pipe = null;
        _inPipe = 0;
    }

    private RegionStep End(RegionOutcome outcome)
    {
        _outcome = outcome;
        return RegionStep.Done;
    }

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

    private RegionOutcome Failure(Errno errno, FileRegion region, string call)
    {
        if (_owner.IsShutDown || errno is Errno.EBADF or Errno.ENOTSOCK)
        {
            return RegionOutcome.Aborted;
        }

        if (errno is Errno.EPIPE or Errno.ECONNRESET)
        {
            return RegionOutcome.ConnectionReset;
        }

        TransportLog.RegionSyscallFailed(_logger, _owner.ConnectionId, region.Path, call, errno.ToString(), errno.Message());
        return RegionOutcome.Failed;
    }
}

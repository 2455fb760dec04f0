using System.Diagnostics;
using Microsoft.AspNetCore.Connections;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Transport.EventLoop;

internal sealed partial class EventLoopConnection : IRegionOwner, IRateLimitedConnection
{
    // Region bytes one turn may move before other connections of the loop get theirs; also the
    // unit between identity checks of a sendfile that the socket keeps accepting.
    private const long RegionChunk = 1 << 20;

    // A transfer whose pages the probe found cached and that still held the loop this long is
    // reported (docs/design/event-loop-engine.md §6, the time check): eviction between the probe and
    // the send, pages still being read, or a file system whose probe lies.
    private static readonly long s_slowTransfer = Stopwatch.Frequency * 2 / 1000;

    // Loop thread only; created with the first region, so idle connections do not carry one.
    private RegionTransfer? _transfer;
    private long _regionDeadline;

    // Loop thread only: the chunk a disk worker is reading in (the region waits for it), and the
    // file offset up to which the current region's bytes were found cached or handed to a worker.
    private DiskWarm? _warm;
    private long _probedUntil;

    /// <summary>Stopwatch timestamp after which the region being sent is too slow; 0 when none is.</summary>
    public long RegionDeadline => Volatile.Read(ref _regionDeadline);

    bool IRegionOwner.IsShutDown => IsShutDown;

    public void AbortForSlowRegion()
    {
        TransportLog.RegionRateTooSlow(_logger, ConnectionId);
        Abort(new ConnectionAbortedException("The connection was aborted because the client did not read a file body at the minimum response data rate."));
    }

    private FileRegion? PeekRegion() => _regions.TryPeek(out var region) ? region : null;

    /// <summary>
    /// Loop: sends the regions due at the current output position. A full socket parks the
    /// region until the EPOLLOUT edge; a used chunk yields to the other connections.
    /// </summary>
    private SendState SendRegions()
    {
        if (_warm is not null)
        {
            // A disk worker is reading the next chunk in; its completion resumes the send.
            return SendState.Wait;
        }

        while (PeekRegion() is { } region && region.Position == _consumed)
        {
            var transfer = _transfer ??= new RegionTransfer(_settings, _logger, this);
            if (transfer.Region is null)
            {
                transfer.Start(region);
                Volatile.Write(ref _regionDeadline, RegionFailure.Deadline(region));
                _probedUntil = region.Offset;
            }

            var budget = RegionChunk;
            var probed = false;
            // Sealed snapshots (no identity) live in the hot cache's memfd: shmem pages, in memory.
            if (_settings.CacheProbe is { } probe && region.Identity is not null && transfer.Untaken > 0)
            {
                if (transfer.Offset >= _probedUntil && ProbeChunk(probe, region, transfer))
                {
                    return SendState.Wait;
                }

                // Never past what was probed: the file reads of this step stay in the checked chunk.
                // The budget counts bytes into the socket: those already taken from the file (a
                // splice pipe's) need no probe, only file reads must stop at the probed end.
                budget = transfer.Held + (_probedUntil - transfer.Offset);
                probed = true;
            }

            var started = probed ? Stopwatch.GetTimestamp() : 0;
            var step = transfer.Step(_fd, budget);
            if (probed && Stopwatch.GetTimestamp() - started > s_slowTransfer)
            {
                TransportLog.SlowCachedTransfer(_logger, ConnectionId, region.Path, _loop.Index, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            switch (step)
            {
                case RegionStep.WouldBlock when !Interop.IsWritableNow(_fd):
                    WaitForWritable();
                    return SendState.Wait;
                case RegionStep.WouldBlock:
                    // EAGAIN that was not the socket's (splice(2): a full pipe or a non-blocking
                    // file also return it): no EPOLLOUT edge would come, so try again after the
                    // others instead of waiting for one.
                    return SendState.Yield;
                case RegionStep.Progress:
                    return SendState.Yield;
            }

            var outcome = transfer.Outcome;
            transfer.Finish();
            Volatile.Write(ref _regionDeadline, 0);
            if (outcome != RegionOutcome.Sent)
            {
                var (reason, reset) = RegionFailure.For(outcome, region, _logger, ConnectionId, _shutdownReason);
                EndSend(reason, reset);
                return SendState.Wait;
            }

            _regions.CompleteHead();
        }

        return SendState.Continue;
    }

    /// <summary>Loop: the connection ends; a region being sent ends as aborted.</summary>
    private void EndRegion()
    {
        Volatile.Write(ref _regionDeadline, 0);
        // A warm still in flight completes into nothing (OnWarmed compares it with _warm).
        _warm = null;
        _transfer?.Finish();
    }

    /// <summary>
    /// Loop: probes the chunk at the transfer's offset. Not all cached: hands it to a disk worker
    /// and returns true (the region waits for <see cref="OnWarmed"/>). Either way the chunk counts as
    /// checked, so the step after the warm does not probe (and offload) it again.
    /// </summary>
    private bool ProbeChunk(PageCacheProbe probe, FileRegion region, RegionTransfer transfer)
    {
        var offset = transfer.Offset;
        var length = Math.Min(RegionChunk, transfer.Untaken);
        _probedUntil = offset + length;
        if (probe.IsCached(region.File, offset, length) || _settings.DiskWorkers is not { } workers)
        {
            return false;
        }

        var warm = new DiskWarm(region.File, offset, length, _loop, static state => OnWarmed((DiskWarm)state!), this);
        if (!workers.TryQueue(warm))
        {
            // A full queue: the disk is far behind already; the loop sends the chunk itself rather
            // than let the client wait for a slot nobody would signal.
            TransportLog.DiskQueueFull(_logger, ConnectionId, region.Path, _loop.Index);
            return false;
        }

        _warm = warm;
        return true;
    }

    /// <summary>Loop: a worker finished a chunk. Resumes the region, unless the connection ended meanwhile.</summary>
    private static void OnWarmed(DiskWarm warm)
    {
        var connection = (EventLoopConnection)warm.Owner;
        try
        {
            connection.Resume(warm);
        }
        catch (Exception ex)
        {
            // Posted work whose state is not a loop handler: end this connection here, as the loop
            // would for one of its own callbacks.
            connection.OnLoopError(ex);
        }
    }

    private void Resume(DiskWarm warm)
    {
        if (!ReferenceEquals(_warm, warm) || !_sending)
        {
            // The region already ended (an abort): its transfer is finished, nothing waits.
            return;
        }

        _warm = null;
        if (warm.Result != Errno.None && _transfer?.Region is { } region)
        {
            // sendfile would fail on the same pages (EIO): the region fails as a failed transfer does.
            TransportLog.DiskWarmFailed(_logger, ConnectionId, region.Path, warm.Result.ToString(), warm.Result.Message());
            _transfer.Finish(RegionOutcome.Failed);
            Volatile.Write(ref _regionDeadline, 0);
            var (reason, reset) = RegionFailure.For(RegionOutcome.Failed, region, _logger, ConnectionId, _shutdownReason);
            EndSend(reason, reset);
            return;
        }

        Send();
    }
}

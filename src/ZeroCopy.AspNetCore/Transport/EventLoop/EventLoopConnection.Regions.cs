using Microsoft.AspNetCore.Connections;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Transport.EventLoop;

internal sealed partial class EventLoopConnection : IRegionOwner, IRateLimitedConnection
{
    // Region bytes one turn may move before other connections of the loop get theirs; also the
    // unit between identity checks of a sendfile that the socket keeps accepting.
    private const long RegionChunk = 1 << 20;

    // Loop thread only; created with the first region, so idle connections do not carry one.
    private RegionTransfer? _transfer;
    private long _regionDeadline;

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
        while (PeekRegion() is { } region && region.Position == _consumed)
        {
            var transfer = _transfer ??= new RegionTransfer(_settings, _logger, this);
            if (transfer.Region is null)
            {
                transfer.Start(region);
                Volatile.Write(ref _regionDeadline, RegionFailure.Deadline(region));
            }

            switch (transfer.Step(_fd, RegionChunk))
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
        _transfer?.Finish();
    }
}

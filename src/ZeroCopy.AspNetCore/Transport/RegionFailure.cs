using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Diagnostics;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>What both engines do when a region did not end as <see cref="RegionOutcome.Sent"/>, and the region's rate deadline.</summary>
internal static class RegionFailure
{
    /// <summary>The connection's shutdown reason for a failed region, and whether it ends with RST (else FIN).</summary>
    public static (Exception Reason, bool Reset) For(RegionOutcome outcome, FileRegion region, ILogger logger, string connectionId, Exception? shutdownReason)
    {
        switch (outcome)
        {
            case RegionOutcome.FileEnded:
                TransportLog.RegionFileEnded(logger, connectionId, region.Path, region.Count);
                // FIN after what was sent: the client sees the body end before Content-Length.
                return (new ConnectionAbortedException("The file became shorter while it was being sent."), false);
            case RegionOutcome.FileChanged:
                TransportLog.RegionFileChanged(logger, connectionId, region.Path, region.Count - region.Remaining, region.Count);
                // RST: the client's kernel drops what it has not read yet, and nothing unsent leaves.
                return (new ConnectionAbortedException("The file changed while it was being sent."), true);
            case RegionOutcome.ConnectionReset:
                return (new ConnectionResetException("The client reset the connection while a file was being sent."), true);
            case RegionOutcome.Aborted:
                return (shutdownReason ?? new ConnectionAbortedException("The connection was aborted while a file was being sent."), true);
            default:
                return (new IOException($"Sending the file '{region.Path}' failed."), true);
        }
    }

    /// <summary>
    /// Stopwatch timestamp by which <paramref name="region"/> must be sent under its minimum data
    /// rate (0: no deadline). Kestrel's rule for a write of N bytes: max(grace period, N / rate).
    /// </summary>
    public static long Deadline(FileRegion region)
    {
        if (region.MinDataRate is not { BytesPerSecond: > 0 } rate)
        {
            return 0;
        }

        var allowed = Math.Max(rate.GracePeriod.TotalSeconds, region.Count / rate.BytesPerSecond);
        return System.Diagnostics.Stopwatch.GetTimestamp() + (long)(allowed * System.Diagnostics.Stopwatch.Frequency);
    }
}

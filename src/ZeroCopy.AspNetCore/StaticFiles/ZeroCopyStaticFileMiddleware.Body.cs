using System.Buffers;
using System.Runtime.Versioning;
using Microsoft.AspNetCore.Http;
using ZeroCopy.AspNetCore.Body;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;
using ZeroCopy.AspNetCore.Files;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>Choosing how the body of a 200/206 leaves: snapshot copy, file region, or stream.</summary>
internal sealed partial class ZeroCopyStaticFileMiddleware
{
    private async Task SendBodyAsync(HttpContext context, StaticFileSite site, ResolvedFile file, long offset, long count, string subPath)
    {
        if (count == 0)
        {
            _metrics.ResponseSent(!file.HasContent ? ResponseStrategy.Stream : ResponseStrategy.HotCache, 0);
            return;
        }

        if (site.Mode != ZeroCopyMode.Stream && LinuxOnly.IsSupported)
        {
            if (await TrySendRegionAsync(context, site, file, offset, count, subPath))
            {
                // The transport sends the bytes and counts the response.
                return;
            }
        }

        if (file.HasContent)
        {
            await SendSnapshotAsync(context, file, offset, count);
            return;
        }

        var sent = await StreamBodySender.SendAsync(context, file, offset, count, _logger, subPath);
        _metrics.ResponseSent(ResponseStrategy.Stream, sent);
    }

    /// <summary>Returns true when the transport took the body; otherwise counts why not.</summary>
    [SupportedOSPlatform("linux")]
    private async ValueTask<bool> TrySendRegionAsync(HttpContext context, StaticFileSite site, ResolvedFile file, long offset, long count, string subPath, bool countsAsResponse = true)
    {
        FallbackReason? reason;
        if (file.Handle is { } handle)
        {
            reason = ZeroCopyEligibility.Check(context, site.Mode, count, site.MinZeroCopyBytes, out var connection);
            if (reason is null)
            {
                var countAs = !file.HasContent ? (ResponseStrategy?)null : ResponseStrategy.HotCache;
                // A sealed snapshot cannot change; a file on disk is re-checked after every transfer.
                var identity = !file.HasContent ? file.Version.Identity : null;
                try
                {
                    if (await RegionBodyWriter.TrySendAsync(context, connection!, handle, offset, count, site.Mode, countAs, file.Version.PhysicalPath, identity, context.RequestAborted, countsAsResponse))
                    {
                        return true;
                    }
                }
                catch (OperationCanceledException ex)
                {
                    StaticFileLog.WriteCancelled(_logger, ex);
                    return true;
                }

                // Something between us and the transport still holds unflushed bytes.
                reason = FallbackReason.WrappedBody;
            }
        }
        else if (file.HasContent)
        {
            // A small snapshot: copying it with the headers is the fast path, not a fallback.
            return false;
        }
        else
        {
            reason = FallbackReason.NotPhysical;
        }

        // A snapshot copied with the headers in one send is what below-threshold means; not a fallback.
        if (!(reason == FallbackReason.BelowThreshold && file.HasContent))
        {
            _metrics.Fallback(reason.Value);
            StaticFileLog.Fallback(_logger, subPath, site.Mode, reason.Value.Name());
        }

        return false;
    }

    /// <summary>
    /// A hot-cache hit: the mapped bytes go into Kestrel's pipe right behind the headers, so the
    /// response leaves in one send.
    /// </summary>
    private async Task SendSnapshotAsync(HttpContext context, ResolvedFile file, long offset, long count)
    {
        var writer = context.Response.BodyWriter;
        // The span is only touched synchronously, while this request holds the entry.
        writer.Write(file.Content.Slice((int)offset, (int)count));
        try
        {
            await writer.FlushAsync(context.RequestAborted);
        }
        catch (OperationCanceledException ex)
        {
            StaticFileLog.WriteCancelled(_logger, ex);
            return;
        }

        _metrics.ResponseSent(ResponseStrategy.HotCache, count);
    }
}

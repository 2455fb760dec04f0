using System.Runtime.Versioning;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Win32.SafeHandles;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;
using ZeroCopy.AspNetCore.Transport;

namespace ZeroCopy.AspNetCore.Body;

/// <summary>
/// Hands a file range to the transport as a region: flush the headers, arm the output writer,
/// advance Count bytes through Kestrel without writing them, flush.
/// </summary>
[SupportedOSPlatform("linux")]
internal static class RegionBodyWriter
{
    /// <summary>
    /// Returns false, before anything of the body was written, when the region cannot start (bytes
    /// still unflushed, no descriptor left); the caller then streams. Returns true without sending
    /// when the connection has already ended (nothing could be sent either way). The region holds a
    /// reference on <paramref name="source"/> until the transport is done with it (which may be
    /// after the request completed), so the caller may dispose its handle whenever it likes: the
    /// descriptor is closed when the last of the two lets go. <paramref name="lease"/> (a reference
    /// keeping the bytes at the region unchanged, or null) is disposed with the region, or before
    /// returning when no region was created.
    /// </summary>
    public static async ValueTask<bool> TrySendAsync(
        HttpContext context,
        IZeroCopyConnectionFeature connection,
        SafeFileHandle source,
        long offset,
        long count,
        ZeroCopyMode mode,
        IFileRegionObserver observer,
        string? path,
        FileStatus? identity,
        IDisposable? lease,
        CancellationToken cancellationToken)
    {
        var response = context.Response;
        var writer = response.BodyWriter;

        // The lease passes to the region once the region exists; until then it is this method's to end.
        FileRegion region;
        long unflushed;
        var handedOver = false;
        try
        {
            // A region must see Kestrel's memory directly: Kestrel's ConcurrentPipeWriter
            // buffers (and later copies) whatever is advanced while one of its flushes is pending, so
            // a region may only start while it passes writes straight through to the transport.
            await response.StartAsync(cancellationToken);

            // One flush for headers and body: if every byte Kestrel wrote and has not flushed (the
            // headers StartAsync just wrote) sits unflushed in the transport's own writer, Kestrel's
            // writer passed them straight through, so it has no flush pending and nothing buffered;
            // it stays so until the next flush, which comes after the region. The send loop then finds
            // the region queued right behind the headers: one wake-up instead of two, and the headers
            // can be held back for the file bytes (MSG_MORE).
            unflushed = writer.CanGetUnflushedBytes ? writer.UnflushedBytes : -1;
            if (unflushed <= 0 || unflushed != connection.Output.UnflushedBytes || connection.IsClosed)
            {
                // Otherwise every byte before the region leaves Kestrel first (and a flush is how
                // Kestrel learns that the connection is gone: a response that ends short of its
                // Content-Length on a connection Kestrel still believes open is logged as an error).
                var flushed = await writer.FlushAsync(cancellationToken);
                if (flushed.IsCompleted || flushed.IsCanceled || connection.IsClosed)
                {
                    // The client is gone (or the app aborted): Kestrel drops whatever would follow.
                    return true;
                }

                if (writer.CanGetUnflushedBytes && writer.UnflushedBytes != 0)
                {
                    return false;
                }

                unflushed = 0;
            }

            var rate = context.Features.Get<IHttpMinResponseDataRateFeature>()?.MinDataRate;
            try
            {
                region = new FileRegion(source, offset, count, mode, rate, path) { Observer = observer, Identity = identity, Lease = lease };
                handedOver = true;
            }
            catch (ObjectDisposedException)
            {
                return false;
            }
        }
        finally
        {
            if (!handedOver)
            {
                lease?.Dispose();
            }
        }

        try
        {
            connection.BeginRegion(region, unflushed);
        }
        catch (InvalidOperationException)
        {
            region.Dispose();
            return false;
        }

        try
        {
            var remaining = count;
            while (remaining > 0)
            {
                var memory = writer.GetMemory();
                var step = (int)Math.Min(memory.Length, remaining);
                writer.Advance(step);
                remaining -= step;
            }
        }
        catch (Exception ex)
        {
            // Never leave a half-consumed region behind: the connection cannot send correct bytes.
            connection.Abort("Advancing a file region failed: " + ex.Message);
            throw;
        }

        // Kestrel does not flush advance-only bytes when the response ends.
        await writer.FlushAsync(cancellationToken);

        // Wait as a write of these bytes would have waited on the output pipe: until at most
        // MaxWriteBufferSize of them is unsent. A request that ends earlier would end Kestrel's
        // RequestAborted and request-duration accounting before the body left.
        await region.Released.WaitAsync(cancellationToken);
        return true;
    }
}

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
    /// when the connection has already ended (nothing could be sent either way). The region gets a duplicate of
    /// <paramref name="source"/> (the transport sends it after the request may have completed and
    /// closes it itself), so the caller's descriptor stays the caller's in every case.
    /// </summary>
    public static async ValueTask<bool> TrySendAsync(
        HttpContext context,
        IZeroCopyConnectionFeature connection,
        SafeFileHandle source,
        long offset,
        long count,
        ZeroCopyMode mode,
        ResponseStrategy? countAs,
        string? path,
        FileStatus? identity,
        CancellationToken cancellationToken,
        bool countsAsResponse = true)
    {
        var response = context.Response;
        var writer = response.BodyWriter;

        // Regions start only after every byte before them left Kestrel (DESIGN §3): Kestrel copies
        // bytes advanced while its own flush is pending, and a region must see its memory directly.
        await response.StartAsync(cancellationToken);
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

        var duplicate = Interop.Duplicate(source, out _);
        if (duplicate < 0)
        {
            return false;
        }

        var rate = context.Features.Get<IHttpMinResponseDataRateFeature>()?.MinDataRate;
        var region = new FileRegion(new SafeFileHandle(duplicate, ownsHandle: true), offset, count, mode, rate, path) { CountAs = countAs, CountsAsResponse = countsAsResponse, Identity = identity };
        try
        {
            connection.BeginRegion(region);
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

using System.Buffers;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Files;
using ZeroCopy.AspNetCore.Native;
using ZeroCopy.AspNetCore.Transport;

namespace ZeroCopy.AspNetCore.Body;

/// <summary>
/// The one place that decides how a file body leaves, for single bodies, multipart parts and
/// <c>Response.SendFileAsync</c> alike, and the one place that counts bodies and fallbacks:
/// <list type="number">
/// <item>a file region on the zero-copy transport (sendfile/splice from the file or the sealed copy);</item>
/// <item>the sealed in-memory copy written behind the headers (one send with them);</item>
/// <item>the server's own <see cref="IHttpResponseBodyFeature.SendFileAsync"/>, when the body feature is not Kestrel's;</item>
/// <item>a copy through <c>Response.BodyWriter</c> (<see cref="StreamBodySender"/>).</item>
/// </list>
/// </summary>
internal sealed class BodySender
{
    private readonly ZeroCopyMetrics _metrics;
    private readonly ILogger _logger;

    // Regions report back here; one observer per way of counting, so a region carries no state of ours.
    private readonly RegionCounter _fileResponse;
    private readonly RegionCounter _fileBytes;
    private readonly RegionCounter _copyResponse;
    private readonly RegionCounter _copyBytes;

    public BodySender(ZeroCopyMetrics metrics, ILogger logger)
    {
        _metrics = metrics;
        _logger = logger;
        _fileResponse = new RegionCounter(this, sealedCopy: false, response: true);
        _fileBytes = new RegionCounter(this, sealedCopy: false, response: false);
        _copyResponse = new RegionCounter(this, sealedCopy: true, response: true);
        _copyBytes = new RegionCounter(this, sealedCopy: true, response: false);
    }

    /// <summary>
    /// Sends <paramref name="count"/> bytes of <paramref name="file"/> from <paramref name="offset"/>:
    /// the whole body of a 200/206 (<paramref name="part"/> false, counted as a response) or one part
    /// of a multipart body (counted as bytes; <see cref="MultipartSent"/> counts the response).
    /// </summary>
    /// <param name="context">The request.</param>
    /// <param name="file">The file; this call does not dispose it.</param>
    /// <param name="offset">First byte of the body in the file.</param>
    /// <param name="count">Body length.</param>
    /// <param name="policy">The configured mode and threshold.</param>
    /// <param name="server">
    /// The body feature whose SendFileAsync must be honoured (IIS, HTTP.sys, a wrapping middleware, a
    /// test double), or null when it is Kestrel's own and this library may write to it directly.
    /// </param>
    /// <param name="logPath">The path logs name (below the root).</param>
    /// <param name="part">One part of a multipart body.</param>
    /// <returns>Whether the response can go on (false when the client left or the file changed).</returns>
    /// <exception cref="FileNotFoundException">From the server's SendFileAsync, as stock lets it escape.</exception>
    public async Task<bool> SendAsync(HttpContext context, ResolvedFile file, long offset, long count, BodyPolicy policy, IHttpResponseBodyFeature? server, string logPath, bool part = false)
    {
        var strategy = file.HasContent ? ResponseStrategy.HotCache : ResponseStrategy.Stream;
        if (count == 0)
        {
            Record(strategy, 0, response: !part);
            return true;
        }

        // A sealed copy cannot change; a file on disk is re-checked after every transfer.
        var source = file.HasContent
            ? new RegionSource(file.Handle, Identity: null, file.Version.PhysicalPath, logPath, Copy: file)
            : new RegionSource(file.Handle, file.Version.Identity, file.Version.PhysicalPath, logPath, Copy: null);
        try
        {
            if (await TrySendRegionAsync(context, source, offset, count, policy, part, context.RequestAborted))
            {
                return !context.RequestAborted.IsCancellationRequested;
            }
        }
        catch (OperationCanceledException ex)
        {
            StaticFileLog.WriteCancelled(_logger, ex);
            return false;
        }

        if (file.HasContent && context.Features.Get<IHttpResponseBodyFeature>()?.Writer is { } writer)
        {
            // The span is only touched synchronously, while this request holds the entry.
            writer.Write(file.Content.Slice((int)offset, (int)count));
            Record(ResponseStrategy.HotCache, count, response: !part);
            // Not flushed: the server sends the bytes when the response ends, with its end. HTTP/2
            // then sends one DATA frame carrying END_STREAM; flushing here made it two, the second
            // empty (9 more bytes, one more TLS record and send per response: RFC 9113 §6.1).
            return true;
        }

        if (server is not null && file.Version.PhysicalPath is { } path)
        {
            return await ServerSendFileAsync(context, server, path, offset, count, part);
        }

        var sent = await StreamBodySender.SendAsync(context, file, offset, count, _logger, logPath);
        Record(ResponseStrategy.Stream, sent, response: !part);
        return sent == count;
    }

    /// <summary>Counts a multipart response once its parts went (their bytes were counted per part).</summary>
    public void MultipartSent(ResolvedFile file)
        => Record(file.HasContent ? ResponseStrategy.HotCache : ResponseStrategy.Stream, 0, response: true);

    /// <summary>
    /// <c>Response.SendFileAsync(path, offset, count)</c> on a zero-copy transport connection: a file
    /// region when eligible, else exactly <paramref name="inner"/>'s own implementation (its argument
    /// checks, exceptions and bytes).
    /// </summary>
    public async Task SendFileAsync(HttpContext context, IHttpResponseBodyFeature inner, string path, long offset, long? count, BodyPolicy policy, CancellationToken cancellationToken)
    {
        // HEAD drops advanced bytes: never open a region for it.
        if (policy.Mode == ZeroCopyMode.Stream || !LinuxOnly.IsSupported || HttpMethods.IsHead(context.Request.Method)
            || RootDirectory.OpenAnywhere(Path.GetFullPath(path), out var handle, out var status) != OpenOutcome.Opened)
        {
            // Missing file, FIFO, ...: the server's implementation reports it as it always has.
            await inner.SendFileAsync(path, offset, count, cancellationToken);
            return;
        }

        using var file = handle!;
        // Same argument checks (and exceptions) as the server's SendFileFallback.
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, status.Size);
        var length = count ?? status.Size - offset;
        ArgumentOutOfRangeException.ThrowIfNegative(length, nameof(count));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, status.Size - offset, nameof(count));
        cancellationToken.ThrowIfCancellationRequested();

        if (!await TrySendRegionAsync(context, new RegionSource(file, status, path, path, Copy: null), offset, length, policy, part: false, cancellationToken))
        {
            await inner.SendFileAsync(path, offset, count, cancellationToken);
        }
    }

    private async Task<bool> ServerSendFileAsync(HttpContext context, IHttpResponseBodyFeature server, string path, long offset, long count, bool part)
    {
        // A provider names a symlink by its own path, and a server's SendFileAsync checks the range
        // against that path's FileInfo.Length, which for a link is the link's own (lstat) size: the
        // server is given the final target, the file whose fstat produced the headers.
        var target = File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? path;
        try
        {
            await server.SendFileAsync(target, offset, count, context.RequestAborted);
        }
        catch (OperationCanceledException ex)
        {
            StaticFileLog.WriteCancelled(_logger, ex);
            return false;
        }

        Record(ResponseStrategy.Stream, count, response: !part);
        return true;
    }

    /// <param name="Handle">The descriptor to send from (the file's or the sealed copy's memfd); null: none.</param>
    /// <param name="Identity">What fstat said when the headers were computed; null for a sealed copy.</param>
    /// <param name="PhysicalPath">The file's path, for the transport's logs.</param>
    /// <param name="LogPath">The path the fallback log names.</param>
    /// <param name="Copy">
    /// The cache's sealed copy (its bytes are in <see cref="Handle"/> from
    /// <see cref="ResolvedFile.ContentOffset"/>; counted as hot-cache), or null for a file on disk.
    /// </param>
    private readonly record struct RegionSource(Microsoft.Win32.SafeHandles.SafeFileHandle? Handle, FileStatus? Identity, string? PhysicalPath, string LogPath, ResolvedFile? Copy)
    {
        public bool SealedCopy => Copy is not null;
    }

    /// <returns>True when the transport took the body; false (the reason counted) when it cannot.</returns>
    private async ValueTask<bool> TrySendRegionAsync(HttpContext context, RegionSource source, long offset, long count, BodyPolicy policy, bool part, CancellationToken cancellationToken)
    {
        if (policy.Mode == ZeroCopyMode.Stream || !LinuxOnly.IsSupported)
        {
            return false;
        }

        FallbackReason reason;
        if (source.Handle is { } handle)
        {
            if (ZeroCopyEligibility.Check(context, policy.Mode, count, policy.MinZeroCopyBytes, out var connection) is { } refused)
            {
                reason = refused;
            }
            else
            {
                var observer = source.SealedCopy ? (part ? _copyBytes : _copyResponse) : (part ? _fileBytes : _fileResponse);

                // A copy's slot is reused once its entry's last reference is gone, and the transport
                // may still be sending the region after this request ended: the region holds a
                // reference of its own until it is done.
                var lease = source.Copy?.Hold();
                if (source.Copy is not null && lease is null)
                {
                    return false;
                }

                var start = (source.Copy?.ContentOffset ?? 0) + offset;
                if (await RegionBodyWriter.TrySendAsync(context, connection!, handle, start, count, policy.Mode, observer, source.PhysicalPath, source.Identity, lease, cancellationToken))
                {
                    return true;
                }

                // Something between us and the transport still holds unflushed bytes.
                reason = FallbackReason.WrappedBody;
            }
        }
        else if (source.SealedCopy)
        {
            // A small sealed copy without a descriptor goes out with the headers: not a fallback.
            return false;
        }
        else
        {
            reason = FallbackReason.NotPhysical;
        }

        if (!source.SealedCopy)
        {
            CountFallback(reason);
            StaticFileLog.Fallback(_logger, source.LogPath, policy.Mode, reason.Name());
        }
        else if (reason != FallbackReason.BelowThreshold)
        {
            // Still the cache's bytes (written from its memory, counted as hot-cache): not a
            // fallback, but why they were copied is counted. Below the threshold a copy goes with
            // the headers in one send by design, which is not counted at all.
            _metrics.CacheCopy(reason);
            StaticFileLog.HotCacheCopied(_logger, source.LogPath, policy.Mode, reason.Name());
        }

        return false;
    }

    private void CountFallback(FallbackReason reason) => _metrics.Fallback(reason);

    private void Record(ResponseStrategy strategy, long bytes, bool response)
    {
        if (response)
        {
            _metrics.ResponseSent(strategy, bytes);
        }
        else
        {
            _metrics.BytesSent(strategy, bytes);
        }
    }

    /// <summary>Counts a region when the transport is done with it (on the connection's send loop).</summary>
    private sealed class RegionCounter(BodySender sender, bool sealedCopy, bool response) : IFileRegionObserver
    {
        public void RegionCompleted(FileRegion region, RegionResult result)
        {
            if (sealedCopy)
            {
                // The cache's bytes whatever the engine; the transport copying them itself (every
                // engine refused by the kernel) is counted as a copy of the cache, not a fallback.
                if (result.Outcome != RegionOutcome.Sent)
                {
                    return;
                }

                if (result.Engine == RegionEngine.Copy)
                {
                    sender._metrics.CacheCopy(FallbackReason.KernelError);
                }

                sender.Record(ResponseStrategy.HotCache, result.BytesSent, response);
                return;
            }

            for (var i = 0; i < result.EngineFallbacks; i++)
            {
                sender.CountFallback(FallbackReason.KernelError);
            }

            if (result.Outcome != RegionOutcome.Sent)
            {
                return;
            }

            var strategy = result.Engine switch
            {
                RegionEngine.Copy => ResponseStrategy.Stream,
                RegionEngine.Splice => ResponseStrategy.Splice,
                _ => ResponseStrategy.SendFile,
            };
            sender.Record(strategy, result.BytesSent, response);
        }
    }
}

/// <summary>How bodies of one middleware (or of SendFileAsync) may be sent: the configured mode and threshold.</summary>
internal readonly record struct BodyPolicy(ZeroCopyMode Mode, long MinZeroCopyBytes);

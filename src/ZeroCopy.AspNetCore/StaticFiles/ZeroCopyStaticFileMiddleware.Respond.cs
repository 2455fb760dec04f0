using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;
using ZeroCopy.AspNetCore.Files;
using ZeroCopy.AspNetCore.Body;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>The response for a chosen file: preconditions, ranges, headers, body.</summary>
internal sealed partial class ZeroCopyStaticFileMiddleware
{
    private async Task RespondAsync(HttpContext context, StaticFileSite site, ResolvedFile file, string subPath, bool vary)
    {
        using var _ = file;
        var version = file.Version;
        var request = context.Request;
        var responder = new FileResponder(context, site, version, subPath, _logger, vary);
        if (HasConditionals(request.Headers))
        {
            switch (Preconditions.Evaluate(request.Headers, version.ETag, version.LastModified, DateTimeOffset.UtcNow))
            {
                case PreconditionResult.NotModified:
                    StaticFileLog.FileNotModified(_logger, subPath);
                    await responder.SendStatusAsync(StatusCodes.Status304NotModified);
                    return;
                case PreconditionResult.PreconditionFailed:
                    StaticFileLog.PreconditionFailed(_logger, subPath);
                    await responder.SendStatusAsync(StatusCodes.Status412PreconditionFailed);
                    return;
            }
        }

        if (HttpMethods.IsHead(request.Method))
        {
            await responder.SendStatusAsync(StatusCodes.Status200OK);
            return;
        }

        var range = request.Headers.Range.Count == 0
            ? RangeSelection.Full
            : RangeParser.Select(request.Headers, version.Length, version.LastModified, version.ETag, site.MaxRanges);
        try
        {
            switch (range.Kind)
            {
                case RangeKind.Unsatisfiable:
                    context.Response.Headers.ContentRange = "bytes */" + version.Length.ToString(CultureInfo.InvariantCulture);
                    await responder.ApplyHeadersAsync(StatusCodes.Status416RangeNotSatisfiable);
                    StaticFileLog.RangeNotSatisfiable(_logger, subPath);
                    return;
                case RangeKind.Single:
                    var last = range.Start + range.Length - 1;
                    context.Response.Headers.ContentRange = string.Create(CultureInfo.InvariantCulture, $"bytes {range.Start}-{last}/{version.Length}");
                    context.Response.ContentLength = range.Length;
                    SetCompressionMode(context, site);
                    await responder.ApplyHeadersAsync(StatusCodes.Status206PartialContent);
                    StaticFileLog.SendingFileRange(_logger, context.Response.Headers.ContentRange, version.PhysicalPath ?? subPath);
                    await SendBodyAsync(context, site, file, range.Start, range.Length, subPath);
                    return;
                case RangeKind.Multiple:
                    await SendMultipartAsync(context, site, file, responder, range.Parts!, subPath);
                    return;
                default:
                    SetCompressionMode(context, site);
                    await responder.ApplyHeadersAsync(StatusCodes.Status200OK);
                    await SendBodyAsync(context, site, file, 0, version.Length, subPath);
                    StaticFileLog.FileServed(_logger, subPath, version.PhysicalPath);
                    return;
            }
        }
        catch (FileNotFoundException)
        {
            // The file went away between the lookup and the open (only where it is opened late):
            // as stock, forget the headers and let the rest of the pipeline answer.
            context.Response.Clear();
        }

        await _next(context);
    }

    /// <summary>
    /// 206 multipart/byteranges (RFC 9110 §14.6): each part's headers go through the pipe, each
    /// part's bytes through the same strategy choice as a single body (a region per part on the
    /// zero-copy transport). Content-Length is exact.
    /// </summary>
    private async Task SendMultipartAsync(HttpContext context, StaticFileSite site, ResolvedFile file, FileResponder responder, ByteRange[] parts, string subPath)
    {
        var version = file.Version;
        var boundary = RandomNumberGenerator.GetHexString(20, lowercase: true);
        var headers = new byte[parts.Length][];
        long total = 0;
        for (var i = 0; i < parts.Length; i++)
        {
            var part = parts[i];
            var text = version.ContentType is { Length: > 0 } type
                ? string.Create(CultureInfo.InvariantCulture, $"\r\n--{boundary}\r\nContent-Type: {type}\r\nContent-Range: bytes {part.Start}-{part.Last}/{version.Length}\r\n\r\n")
                : string.Create(CultureInfo.InvariantCulture, $"\r\n--{boundary}\r\nContent-Range: bytes {part.Start}-{part.Last}/{version.Length}\r\n\r\n");
            headers[i] = Encoding.ASCII.GetBytes(text);
            total += headers[i].Length + part.Length;
        }

        var closing = Encoding.ASCII.GetBytes("\r\n--" + boundary + "--\r\n");
        total += closing.Length;

        context.Response.ContentLength = total;
        SetCompressionMode(context, site);
        await responder.ApplyHeadersAsync(StatusCodes.Status206PartialContent, "multipart/byteranges; boundary=" + boundary);
        if (_logger.IsEnabled(LogLevel.Information))
        {
            // The parts selected (at most MaxRanges), not the request's header: a client must not
            // be able to write kilobytes into the log per request.
            var selected = string.Join(',', parts.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Start}-{p.Last}")));
            StaticFileLog.SendingFileRange(_logger, "bytes " + selected + "/" + version.Length.ToString(CultureInfo.InvariantCulture), version.PhysicalPath ?? subPath);
        }

        var writer = context.Response.BodyWriter;
        long copied = 0;
        for (var i = 0; i < parts.Length; i++)
        {
            await writer.WriteAsync(headers[i], context.RequestAborted);
            var (ok, bytes) = await SendPartAsync(context, site, file, parts[i], subPath);
            copied += bytes;
            if (!ok)
            {
                return;
            }
        }

        await writer.WriteAsync(closing, context.RequestAborted);
        // One response; bytes sent as regions are counted by the transport.
        _metrics.ResponseSent(!file.HasContent ? ResponseStrategy.Stream : ResponseStrategy.HotCache, copied);
    }

    /// <returns>Whether the response can go on (not when the client left or the file changed), and the bytes copied here.</returns>
    private async Task<(bool Ok, long Copied)> SendPartAsync(HttpContext context, StaticFileSite site, ResolvedFile file, ByteRange part, string subPath)
    {
        if (site.Mode != ZeroCopyMode.Stream && LinuxOnly.IsSupported && file.Handle is not null
            && await TrySendRegionAsync(context, site, file, part.Start, part.Length, subPath, countsAsResponse: false))
        {
            return (!context.RequestAborted.IsCancellationRequested, 0);
        }

        if (file.HasContent)
        {
            context.Response.BodyWriter.Write(file.Content.Slice((int)part.Start, (int)part.Length));
            return (true, part.Length);
        }

        var sent = await StreamBodySender.SendAsync(context, file, part.Start, part.Length, _logger, subPath);
        return (sent == part.Length, sent);
    }

    /// <summary>Most requests carry no conditional header: skip parsing entirely for them.</summary>
    private static bool HasConditionals(IHeaderDictionary headers)
        => headers.IfMatch.Count != 0 || headers.IfNoneMatch.Count != 0
            || headers.IfModifiedSince.Count != 0 || headers.IfUnmodifiedSince.Count != 0;
}

using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Body;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Files;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>The response for a chosen file: preconditions, ranges, headers, then the body through <see cref="BodySender"/>.</summary>
internal sealed class FileResponder(ILogger logger, BodySender bodies)
{
    /// <summary>
    /// Answers <paramref name="request"/> with <paramref name="file"/> (which this call disposes).
    /// <paramref name="path"/> is the file's path below the root (a default document's or the SPA
    /// fallback's own path), for Cache-Control rules and logs.
    /// </summary>
    /// <returns>
    /// False when the file vanished before its body was sent (the server's SendFileAsync threw
    /// FileNotFoundException or DirectoryNotFoundException): the response was cleared and, as with
    /// stock, the next middleware answers.
    /// </returns>
    public async Task<bool> RespondAsync(FileRequest request, ResolvedFile file, string path, bool vary)
    {
        using var _ = file;
        var context = request.Context;
        var version = file.Version;
        var headers = new FileHeaders(context, request.Site, version, path, logger, vary, file.HasPreparedHeaders ? file.CacheControl : request.Site.CacheControlRules.For(path));
        if (HasConditionals(context.Request.Headers))
        {
            switch (Preconditions.Evaluate(context.Request.Headers, version.ETag, version.LastModified, DateTimeOffset.UtcNow))
            {
                case PreconditionResult.NotModified:
                    StaticFileLog.FileNotModified(logger, path);
                    await headers.SendStatusAsync(StatusCodes.Status304NotModified);
                    return true;
                case PreconditionResult.PreconditionFailed:
                    StaticFileLog.PreconditionFailed(logger, path);
                    await headers.SendStatusAsync(StatusCodes.Status412PreconditionFailed);
                    return true;
            }
        }

        if (HttpMethods.IsHead(context.Request.Method))
        {
            await headers.SendStatusAsync(StatusCodes.Status200OK);
            return true;
        }

        var range = context.Request.Headers.Range.Count == 0
            ? RangeSelection.Full
            : RangeParser.Select(context.Request.Headers, version.Length, version.LastModified, version.ETag, request.Site.MaxRanges);
        try
        {
            switch (range.Kind)
            {
                case RangeKind.Unsatisfiable:
                    context.Response.Headers.ContentRange = "bytes */" + version.Length.ToString(CultureInfo.InvariantCulture);
                    await headers.ApplyAsync(StatusCodes.Status416RangeNotSatisfiable);
                    StaticFileLog.RangeNotSatisfiable(logger, path);
                    return true;
                case RangeKind.Single:
                    var last = range.Start + range.Length - 1;
                    context.Response.Headers.ContentRange = string.Create(CultureInfo.InvariantCulture, $"bytes {range.Start}-{last}/{version.Length}");
                    context.Response.ContentLength = range.Length;
                    SetCompressionMode(request);
                    await headers.ApplyAsync(StatusCodes.Status206PartialContent);
                    StaticFileLog.SendingFileRange(logger, context.Response.Headers.ContentRange, version.PhysicalPath ?? path);
                    await bodies.SendAsync(context, file, range.Start, range.Length, request.BodyPolicy, request.ServerSendFile, path);
                    return true;
                case RangeKind.Multiple:
                    await SendMultipartAsync(request, file, headers, range.Parts!, path);
                    return true;
                default:
                    SetCompressionMode(request);
                    await headers.ApplyAsync(StatusCodes.Status200OK);
                    await bodies.SendAsync(context, file, 0, version.Length, request.BodyPolicy, request.ServerSendFile, path);
                    StaticFileLog.FileServed(logger, path, version.PhysicalPath);
                    return true;
            }
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException && !context.Response.HasStarted)
        {
            // The file went away between the lookup and the send (only where it is opened late): as
            // stock, forget the headers and let the rest of the pipeline answer.
            context.Response.Clear();
            return false;
        }
    }

    /// <summary>
    /// 206 multipart/byteranges (RFC 9110 §14.6): each part's headers go through the pipe, each
    /// part's bytes through the same body ladder as a single body (a region per part on the zero-copy
    /// transport). Content-Length is exact.
    /// </summary>
    private async Task SendMultipartAsync(FileRequest request, ResolvedFile file, FileHeaders headers, ByteRange[] parts, string path)
    {
        var context = request.Context;
        var version = file.Version;
        var boundary = RandomNumberGenerator.GetHexString(20, lowercase: true);
        var partHeaders = new byte[parts.Length][];
        long total = 0;
        for (var i = 0; i < parts.Length; i++)
        {
            var part = parts[i];
            var text = version.ContentType is { Length: > 0 } type
                ? string.Create(CultureInfo.InvariantCulture, $"\r\n--{boundary}\r\nContent-Type: {type}\r\nContent-Range: bytes {part.Start}-{part.Last}/{version.Length}\r\n\r\n")
                : string.Create(CultureInfo.InvariantCulture, $"\r\n--{boundary}\r\nContent-Range: bytes {part.Start}-{part.Last}/{version.Length}\r\n\r\n");
            partHeaders[i] = Encoding.ASCII.GetBytes(text);
            total += partHeaders[i].Length + part.Length;
        }

        var closing = Encoding.ASCII.GetBytes("\r\n--" + boundary + "--\r\n");
        total += closing.Length;

        context.Response.ContentLength = total;
        SetCompressionMode(request);
        await headers.ApplyAsync(StatusCodes.Status206PartialContent, "multipart/byteranges; boundary=" + boundary);
        if (logger.IsEnabled(LogLevel.Information))
        {
            // The parts selected (at most MaxRanges), not the request's header: a client must not
            // be able to write kilobytes into the log per request.
            var selected = string.Join(',', parts.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Start}-{p.Last}")));
            StaticFileLog.SendingFileRange(logger, "bytes " + selected + "/" + version.Length.ToString(CultureInfo.InvariantCulture), version.PhysicalPath ?? path);
        }

        var writer = context.Response.BodyWriter;
        var server = request.ServerSendFile;
        for (var i = 0; i < parts.Length; i++)
        {
            await writer.WriteAsync(partHeaders[i], context.RequestAborted);
            if (!await bodies.SendAsync(context, file, parts[i].Start, parts[i].Length, request.BodyPolicy, server, path, part: true))
            {
                return;
            }
        }

        await writer.WriteAsync(closing, context.RequestAborted);
        bodies.MultipartSent(file);
    }

    private static void SetCompressionMode(in FileRequest request)
    {
        if (request.Context.Features.Get<IHttpsCompressionFeature>() is { } feature)
        {
            feature.Mode = request.Site.HttpsCompression;
        }
    }

    /// <summary>Most requests carry no conditional header: skip parsing entirely for them.</summary>
    private static bool HasConditionals(IHeaderDictionary headers)
        => headers.IfMatch.Count != 0 || headers.IfNoneMatch.Count != 0
            || headers.IfModifiedSince.Count != 0 || headers.IfUnmodifiedSince.Count != 0;
}

using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Files;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>Writes the status and headers of a file response, as stock does, plus Vary/Content-Encoding for precompressed files.</summary>
internal readonly struct FileHeaders
{
    private readonly HttpContext _context;
    private readonly StaticFileSite _site;
    private readonly FileVersion _file;
    private readonly string _subPath;
    private readonly ILogger _logger;
    private readonly bool _vary;

    public FileHeaders(HttpContext context, StaticFileSite site, FileVersion file, string subPath, ILogger logger, bool vary = false)
    {
        _context = context;
        _site = site;
        _file = file;
        _subPath = subPath;
        _logger = logger;
        _vary = vary;
    }

    /// <summary>A response without a body of its own: HEAD 200, 304, 412.</summary>
    public Task SendStatusAsync(int statusCode)
    {
        StaticFileLog.Handled(_logger, statusCode, _subPath);
        return ApplyAsync(statusCode);
    }

    /// <param name="statusCode">200, 206, 304, 412 or 416.</param>
    /// <param name="contentType">Replaces the file's content type (multipart/byteranges).</param>
    public Task ApplyAsync(int statusCode, string? contentType = null)
    {
        var response = _context.Response;
        // Only a 200 is replaced, so a status set earlier (a re-executed error page) survives.
        if (response.StatusCode == StatusCodes.Status200OK)
        {
            response.StatusCode = statusCode;
        }

        var headers = response.Headers;
        if (statusCode < 400)
        {
            // 200, 206 and 304 carry the validators; 412 and 416 do not.
            contentType ??= _file.ContentType;
            if (!string.IsNullOrEmpty(contentType))
            {
                response.ContentType = contentType;
            }

            headers.LastModified = _file.LastModifiedText;
            headers.ETag = _file.ETagText;
            headers.AcceptRanges = "bytes";
            if (_site.CacheControlRules.For(_subPath) is { } cacheControl)
            {
                headers.CacheControl = cacheControl;
            }

            if (_file.ContentEncoding is { } encoding && statusCode != StatusCodes.Status304NotModified)
            {
                headers.ContentEncoding = encoding;
            }
        }

        if (_vary)
        {
            // The representation was chosen by Accept-Encoding (RFC 9110 §12.5.5).
            headers.Vary = "Accept-Encoding";
        }

        if (statusCode == StatusCodes.Status200OK)
        {
            response.ContentLength = _file.Length;
        }

        if (!_site.HasPrepareCallbacks)
        {
            return Task.CompletedTask;
        }

        var prepare = new StaticFileResponseContext(_context, _file.Info);
        _site.OnPrepareResponse?.Invoke(prepare);
        return _site.OnPrepareResponseAsync?.Invoke(prepare) ?? Task.CompletedTask;
    }
}

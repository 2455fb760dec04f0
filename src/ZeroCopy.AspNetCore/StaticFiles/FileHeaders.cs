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
    private readonly string? _cacheControl;

    /// <param name="context">The request's context.</param>
    /// <param name="site">The middleware's settings (prepare callbacks).</param>
    /// <param name="file">The version whose validators and type are written.</param>
    /// <param name="subPath">The file's path below the root, for logs.</param>
    /// <param name="logger">The middleware's logger.</param>
    /// <param name="vary">True when the representation was chosen by Accept-Encoding.</param>
    /// <param name="cacheControl">The Cache-Control the site's rules give the file (a cached file's looked up once), or null.</param>
    public FileHeaders(HttpContext context, StaticFileSite site, FileVersion file, string subPath, ILogger logger, bool vary, string? cacheControl)
    {
        _cacheControl = cacheControl;
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
            if (_cacheControl is not null)
            {
                headers.CacheControl = _cacheControl;
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

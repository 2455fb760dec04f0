using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Diagnostics;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>Writes the status and headers of a file response, as stock does.</summary>
internal readonly struct FileResponder
{
    private readonly HttpContext _context;
    private readonly StaticFileSite _site;
    private readonly FileVersion _file;
    private readonly string _subPath;
    private readonly ILogger _logger;

    public FileResponder(HttpContext context, StaticFileSite site, FileVersion file, string subPath, ILogger logger)
    {
        _context = context;
        _site = site;
        _file = file;
        _subPath = subPath;
        _logger = logger;
    }

    /// <summary>A response without a body of its own: HEAD 200, 304, 412.</summary>
    public Task SendStatusAsync(int statusCode)
    {
        StaticFileLog.Handled(_logger, statusCode, _subPath);
        return ApplyHeadersAsync(statusCode);
    }

    public Task ApplyHeadersAsync(int statusCode)
    {
        var response = _context.Response;
        // Only a 200 is replaced, so a status set earlier (a re-executed error page) survives.
        if (response.StatusCode == StatusCodes.Status200OK)
        {
            response.StatusCode = statusCode;
        }

        if (statusCode < 400)
        {
            // 200, 206 and 304 carry the validators; 412 and 416 do not.
            if (!string.IsNullOrEmpty(_file.ContentType))
            {
                response.ContentType = _file.ContentType;
            }

            var headers = response.Headers;
            headers.LastModified = _file.LastModifiedText;
            headers.ETag = _file.ETagText;
            headers.AcceptRanges = "bytes";
            if (_site.CacheControl is { } cacheControl)
            {
                headers.CacheControl = cacheControl;
            }
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

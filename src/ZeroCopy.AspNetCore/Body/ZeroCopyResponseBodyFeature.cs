using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using ZeroCopy.AspNetCore.Configuration;

namespace ZeroCopy.AspNetCore.Body;

/// <summary>
/// Wraps the server's <see cref="IHttpResponseBodyFeature"/> so that
/// <c>Response.SendFileAsync(path, offset, count)</c> (and with it stock <c>UseStaticFiles</c>,
/// <c>Results.File</c>, <c>PhysicalFileResult</c>) takes the zero-copy path when the response is
/// eligible, and is exactly the server's own implementation otherwise.
/// </summary>
internal sealed class ZeroCopyResponseBodyFeature : IHttpResponseBodyFeature
{
    private readonly HttpContext _context;
    private readonly ZeroCopySettings _settings;
    private readonly BodySender _sender;

    public ZeroCopyResponseBodyFeature(IHttpResponseBodyFeature inner, HttpContext context, ZeroCopySettings settings, BodySender sender)
    {
        Inner = inner;
        _context = context;
        _settings = settings;
        _sender = sender;
    }

    public IHttpResponseBodyFeature Inner { get; }

    public Stream Stream => Inner.Stream;

    public PipeWriter Writer => Inner.Writer;

    public void DisableBuffering() => Inner.DisableBuffering();

    public Task StartAsync(CancellationToken cancellationToken = default) => Inner.StartAsync(cancellationToken);

    public Task CompleteAsync() => Inner.CompleteAsync();

    public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
    {
        var settings = _settings.Current;
        return _sender.SendFileAsync(_context, Inner, path, offset, count, new BodyPolicy(settings.Mode, settings.MinZeroCopyBytes), cancellationToken);
    }
}

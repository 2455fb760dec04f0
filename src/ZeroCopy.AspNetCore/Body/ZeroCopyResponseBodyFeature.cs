using System.IO.Pipelines;
using System.Runtime.Versioning;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Configuration;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;
using ZeroCopy.AspNetCore.Files;

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
    private readonly ZeroCopyMetrics _metrics;
    private readonly ILogger _logger;

    public ZeroCopyResponseBodyFeature(IHttpResponseBodyFeature inner, HttpContext context, ZeroCopySettings settings, ZeroCopyMetrics metrics, ILogger logger)
    {
        Inner = inner;
        _context = context;
        _settings = settings;
        _metrics = metrics;
        _logger = logger;
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
        if (settings.Mode == ZeroCopyMode.Stream || !LinuxOnly.IsSupported || HttpMethods.IsHead(_context.Request.Method))
        {
            return Inner.SendFileAsync(path, offset, count, cancellationToken);
        }

        return SendFileOnLinuxAsync(path, offset, count, settings, cancellationToken);
    }

    [SupportedOSPlatform("linux")]
    private async Task SendFileOnLinuxAsync(string path, long offset, long? count, ZeroCopyStaticFilesOptions settings, CancellationToken cancellationToken)
    {
        if (RootDirectory.OpenAnywhere(Path.GetFullPath(path), out var handle, out var status) != OpenOutcome.Opened)
        {
            // Missing file, FIFO, ...: the server's implementation reports it as it always has.
            await Inner.SendFileAsync(path, offset, count, cancellationToken);
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

        var reason = ZeroCopyEligibility.Check(_context, settings.Mode, length, settings.MinZeroCopyBytes, out var connection);
        if (reason is null)
        {
            if (await RegionBodyWriter.TrySendAsync(_context, connection!, file, offset, length, settings.Mode, countAs: null, path, status, cancellationToken))
            {
                return;
            }

            reason = FallbackReason.WrappedBody;
        }

        _metrics.Fallback(reason.Value);
        StaticFileLog.Fallback(_logger, path, settings.Mode, reason.Value.Name());
        await Inner.SendFileAsync(path, offset, count, cancellationToken);
    }
}

using System.IO.Pipelines;
using System.Runtime.Versioning;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using ZeroCopy.AspNetCore.Configuration;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.StaticFiles;

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
        if (settings.Mode == ZeroCopyMode.Stream || !OperatingSystem.IsLinux() || HttpMethods.IsHead(_context.Request.Method))
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

        var owner = new HandleOwner(handle!);
        try
        {
            await SendOpenedFileAsync(owner, path, offset, count, status.Size, settings, cancellationToken);
        }
        finally
        {
            owner.Handle?.Dispose();
        }
    }

    [SupportedOSPlatform("linux")]
    private async Task SendOpenedFileAsync(HandleOwner owner, string path, long offset, long? count, long size, ZeroCopyStaticFilesOptions settings, CancellationToken cancellationToken)
    {
        // Same argument checks (and exceptions) as the server's SendFileFallback.
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, size);
        var length = count ?? size - offset;
        ArgumentOutOfRangeException.ThrowIfNegative(length, nameof(count));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, size - offset, nameof(count));
        cancellationToken.ThrowIfCancellationRequested();

        var reason = ZeroCopyEligibility.Check(_context, settings.Mode, length, settings.MinZeroCopyBytes, out var connection);
        if (reason is null
            && await RegionBodyWriter.TrySendAsync(_context, connection!, owner.Handle!, offset, length, settings.Mode, path, HandleOwner.Release, owner, cancellationToken))
        {
            return;
        }

        var why = reason ?? FallbackReason.WrappedBody;
        _metrics.Fallback(why);
        StaticFileLog.Fallback(_logger, path, settings.Mode, why.Name());
        await Inner.SendFileAsync(path, offset, count, cancellationToken);
    }

    /// <summary>Holds the descriptor until the transport takes it.</summary>
    private sealed class HandleOwner(SafeFileHandle handle)
    {
        public static readonly Action<object> Release = static state => ((HandleOwner)state).Handle = null;

        public SafeFileHandle? Handle { get; private set; } = handle;
    }
}

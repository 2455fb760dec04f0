using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Files;
using ZeroCopy.AspNetCore.StaticFiles;
using ZeroCopy.AspNetCore.Transport;

namespace ZeroCopy.AspNetCore.ShortCircuit;

/// <summary>
/// The short-circuit lane: on connections of the zero-copy transport, plain GET and HEAD requests
/// for files in a middleware's hot-file cache are answered before Kestrel parses them, with the
/// bytes the middleware would send. Everything else reaches Kestrel untouched (<see cref="LaneReader"/>).
/// </summary>
/// <remarks>
/// Which middleware answers is decided as the pipeline would: the static-file middlewares in the
/// order they were added, the first whose RequestPath the path is below; if that one is not
/// eligible (lane off, prepare callbacks) or the file is not hot in its cache, Kestrel answers.
/// The file is found by the same code as the middleware's hit path
/// (<see cref="FileLocator.HotEntry"/>, <see cref="FileLocator.SelectRepresentation(StaticFileSite, string, StringValues, string?, ResolvedFile?)"/>,
/// <see cref="Preconditions.Evaluate"/>), on a path the lane only accepts when Kestrel would hand it
/// to the middleware unchanged (<see cref="LaneRequest"/>), so the lane cannot serve a file the
/// middleware would refuse.
/// </remarks>
internal sealed class ShortCircuitLane : IConnectionLane
{
    /// <summary>Bodies up to this size are copied behind the head (one send); larger files go to Kestrel, whose middleware sends them with sendfile.</summary>
    internal const int MaxBodyBytes = 64 * 1024;

    private readonly Lock _lock = new();
    private readonly IOptions<KestrelServerOptions> _kestrel;
    private readonly ZeroCopyMetrics _metrics;
    private readonly FileLocator _locator = new(NullLogger.Instance);
    private volatile LaneSlot[] _slots = [];
    private LaneSettings? _settings;

    private readonly IHostApplicationLifetime? _lifetime;

    public ShortCircuitLane(IOptions<KestrelServerOptions> kestrel, ZeroCopyMetrics metrics, ILoggerFactory loggerFactory, IHostApplicationLifetime? lifetime = null)
    {
        _lifetime = lifetime;
        _kestrel = kestrel;
        _metrics = metrics;
        Logger = loggerFactory.CreateLogger(LaneLog.Category);
    }

    internal ILogger Logger { get; }

    /// <summary>True once the application is stopping (Kestrel then closes connections on purpose).</summary>
    internal bool Stopping => _lifetime?.ApplicationStopping.IsCancellationRequested == true;

    /// <summary>Kestrel's limits and header switch, read when the first connection arrives (Kestrel has been configured by then).</summary>
    internal LaneSettings Settings => _settings ??= LaneSettings.From(_kestrel.Value);

    /// <summary>A place in the pipeline order for a static-file middleware, filled when the middleware is built.</summary>
    public LaneSlot Reserve()
    {
        lock (_lock)
        {
            var slot = new LaneSlot();
            _slots = [.. _slots, slot];
            return slot;
        }
    }

    public bool IsActive
    {
        get
        {
            foreach (var slot in _slots)
            {
                if (slot.Middleware?.Site.ShortCircuit == true)
                {
                    return true;
                }
            }

            return false;
        }
    }

    public PipeReader Attach(PipeReader input, RegionPipeWriter output, IFeatureCollection features, bool handOff)
        => new LaneReader(this, input, output, features, handOff);

    /// <summary>
    /// Writes the response to a candidate request into <paramref name="output"/>, or returns false
    /// (nothing written) when Kestrel must answer it.
    /// </summary>
    internal bool TryAnswer(ref LaneRequest request, PipeWriter output)
    {
        string? path = null;
        foreach (var slot in _slots)
        {
            if (slot.Middleware is not { } middleware)
            {
                // The pipeline is still being built.
                return false;
            }

            var site = middleware.Site;
            path ??= Encoding.ASCII.GetString(request.Path);
            if (!new PathString(path).StartsWithSegments(site.RequestPath, out var subPath))
            {
                // This middleware passes the request on (its path mismatch): the next one decides.
                continue;
            }

            return site.ShortCircuit && TryAnswer(site, subPath.Value!, ref request, output);
        }

        return false;
    }

    private bool TryAnswer(StaticFileSite site, string subPath, ref LaneRequest request, PipeWriter output)
    {
        if (FileLocator.HotEntry(site, subPath) is not { } entry)
        {
            return false;
        }

        if (!entry.ServedByPipeline)
        {
            // The middleware has not answered this file through the pipeline yet (see CacheEntry.ServedByPipeline).
            entry.Release();
            return false;
        }

        // As Kestrel hands them to the middleware: a header present once is one value.
        var acceptEncoding = request.HasAcceptEncoding ? new StringValues(Encoding.ASCII.GetString(request.AcceptEncoding)) : StringValues.Empty;
        var identity = new ResolvedFile(entry);
        ResolvedFile? file = identity;
        var vary = false;
        if (identity.KnownSiblings != 0 || !FileLocator.IdentityAccepted(acceptEncoding))
        {
            (file, vary, _) = _locator.SelectRepresentation(site, subPath, acceptEncoding, identity.Version.ContentType, identity);
            if (file is null)
            {
                // 406, or a file that vanished: the middleware's own answer.
                return false;
            }
        }

        using (file)
        {
            var version = file.Version;
            if (file.Held is not { } held || !file.HasContent || version.Length > MaxBodyBytes)
            {
                return false;
            }

            var notModified = false;
            if (!request.IfNoneMatch.IsEmpty || !request.IfModifiedSince.IsEmpty)
            {
                IHeaderDictionary conditionals = new HeaderDictionary();
                if (!request.IfNoneMatch.IsEmpty)
                {
                    conditionals.IfNoneMatch = Encoding.ASCII.GetString(request.IfNoneMatch);
                }

                if (!request.IfModifiedSince.IsEmpty)
                {
                    conditionals.IfModifiedSince = Encoding.ASCII.GetString(request.IfModifiedSince);
                }

                // If-Match and If-Unmodified-Since are never here (the lane forwards them), so 412 cannot be the answer.
                notModified = Preconditions.Evaluate(conditionals, version.ETag, version.LastModified, DateTimeOffset.UtcNow) == PreconditionResult.NotModified;
            }

            if (PreparedHeads.For(held, notModified, vary, Settings.ServerHeader) is not { } head)
            {
                return false;
            }

            var bytes = head.Bytes;
            output.Write(bytes.AsSpan(0, head.DateAt));
            output.Write(DateLine.Current);
            output.Write(bytes.AsSpan(head.DateAt));
            var body = notModified || request.IsHead ? 0 : version.Length;
            if (body > 0)
            {
                output.Write(file.Content);
            }

            _metrics.ResponseSent(ResponseStrategy.ShortCircuit, body);
            return true;
        }
    }
}

/// <summary>A static-file middleware's place in the pipeline order (see <see cref="ShortCircuitLane.Reserve"/>).</summary>
internal sealed class LaneSlot
{
    private volatile ZeroCopyStaticFileMiddleware? _middleware;

    public ZeroCopyStaticFileMiddleware? Middleware
    {
        get => _middleware;
        set => _middleware = value;
    }
}

/// <summary>What the lane takes from Kestrel's options.</summary>
/// <param name="Limits">How much of a head the lane reads (half of Kestrel's limits: a head near a limit is Kestrel's to judge).</param>
/// <param name="ServerHeader">Kestrel's AddServerHeader.</param>
/// <param name="KeepAlive">Kestrel's KeepAliveTimeout; null when infinite.</param>
internal sealed record LaneSettings(LaneLimits Limits, bool ServerHeader, TimeSpan? KeepAlive)
{
    public static LaneSettings From(KestrelServerOptions options)
    {
        var limits = options.Limits;
        var maxHead = (int)Math.Min(8 * 1024, Math.Min(limits.MaxRequestHeadersTotalSize / 2, int.MaxValue));
        var keepAlive = limits.KeepAliveTimeout;
        return new LaneSettings(
            new LaneLimits(Math.Min(limits.MaxRequestLineSize / 2, maxHead), maxHead, limits.MaxRequestHeaderCount / 2),
            options.AddServerHeader,
            keepAlive == Timeout.InfiniteTimeSpan || keepAlive >= TimeSpan.FromDays(1) ? null : keepAlive);
    }
}

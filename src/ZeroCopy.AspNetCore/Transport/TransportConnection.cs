using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using ZeroCopy.AspNetCore.Diagnostics;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>
/// What both engines' connections share: the pipes Kestrel sees (the output writer records file
/// regions), the identity and features of the connection, the shutdown reason and
/// <see cref="ConnectionClosed"/>. The engines differ only in who moves the bytes.
/// </summary>
internal abstract partial class TransportConnection : ConnectionContext
{
    private static long s_lastId = Stopwatch.GetTimestamp();

    private protected readonly Socket _socket;
    private protected readonly ConnectionSettings _settings;
    private protected readonly ILogger _logger;
    private protected readonly Pipe _input;
    private protected readonly Pipe _output;
    private protected readonly RegionQueue _regions;
    private protected readonly RegionPipeWriter _outputWriter;
    private protected readonly IDuplexPipe _originalTransport;
    private protected readonly Lock _shutdownLock = new();

    /// <summary>Set once, under <see cref="_shutdownLock"/>, when the connection starts to end.</summary>
    private protected volatile Exception? _shutdownReason;

    private readonly CancellationTokenSource _connectionClosedSource = new();
    private readonly TaskCompletionSource _closedCallbacksDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly FeatureCollection _features = new();
    private readonly long _numericId;
    private readonly string _idPrefix;
    private string? _connectionId;
    private IDictionary<object, object?>? _items;
    private int _connectionClosedFired;

    /// <param name="socket">The accepted socket.</param>
    /// <param name="settings">What the connections of its I/O queue or loop share.</param>
    /// <param name="logger">The transport's logger.</param>
    /// <param name="idPrefix">Prefix of <see cref="ConnectionId"/>, naming the engine in logs.</param>
    private protected TransportConnection(Socket socket, ConnectionSettings settings, ILogger logger, string idPrefix)
    {
        _socket = socket;
        _settings = settings;
        _logger = logger;
        _idPrefix = idPrefix;
        _numericId = Interlocked.Increment(ref s_lastId);
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
        ConnectionClosed = _connectionClosedSource.Token;

        var lane = settings.Lane is { IsActive: true } active ? active : null;
        _input = new Pipe(lane is not null && settings.LaneInputOptions is { } laneInput ? laneInput : settings.InputOptions);
        _output = new Pipe(settings.OutputOptions);
        _regions = new RegionQueue(settings.MaxQueuedRegions);
        _outputWriter = new RegionPipeWriter(_output, _regions, AbortForRegion, settings.RegionReleaseThreshold > 0 ? settings.RegionReleaseThreshold : long.MaxValue);
        // The lane reads only what Kestrel asks for, on Kestrel's side; it never sees TLS plaintext
        // (TLS wraps this pipe) and gives up on bytes it cannot read as HTTP/1.1 requests.
        var input = lane?.Attach(_input.Reader, _outputWriter, _features, handOff: settings.InputOptions.ReaderScheduler != PipeScheduler.Inline) ?? _input.Reader;
        _originalTransport = new DuplexPipe(input, _outputWriter);
        Transport = _originalTransport;
    }

    public override string ConnectionId
    {
        get => _connectionId ??= _idPrefix + _numericId.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
        set => _connectionId = value;
    }

    public override IFeatureCollection Features => _features;

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new ConnectionItems();
        set => _items = value;
    }

    public override IDuplexPipe Transport { get; set; }

    public override CancellationToken ConnectionClosed { get; set; }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    public MemoryPool<byte> MemoryPool => _settings.MemoryPool;

    /// <summary>True once the connection is shutting down (aborted, reset, or finished).</summary>
    internal bool IsShutDown => _shutdownReason is not null;

    /// <summary>Completes once the <see cref="ConnectionClosed"/> callbacks have run.</summary>
    private protected Task ClosedCallbacksDone => _closedCallbacksDone.Task;

    /// <summary>Called by the output writer when the region protocol is broken.</summary>
    private protected void AbortForRegion(string reason)
    {
        if (IsShutDown)
        {
            // Kestrel's output stops passing Advance on once the connection is aborted (a client
            // reset, HttpContext.Abort()), so a region begun just before that never fills. Nothing
            // can be sent any more: not a protocol violation.
            TransportLog.RegionAbandoned(_logger, ConnectionId, reason);
            return;
        }

        TransportLog.RegionViolation(_logger, ConnectionId, reason);
        Abort(new ConnectionAbortedException(reason));
    }

    /// <summary>Fires <see cref="ConnectionClosed"/> once, on the thread pool: user callbacks may block.</summary>
    private protected void FireConnectionClosed()
    {
        if (Interlocked.Exchange(ref _connectionClosedFired, 1) != 0)
        {
            return;
        }

        ThreadPool.UnsafeQueueUserWorkItem(
            static connection =>
            {
                try
                {
                    connection._connectionClosedSource.Cancel();
                }
                catch (AggregateException ex)
                {
                    TransportLog.UnexpectedError(connection._logger, connection.ConnectionId, nameof(ConnectionClosed), ex);
                }

                connection._closedCallbacksDone.TrySetResult();
            },
            this,
            preferLocal: false);
    }

    /// <summary>Ends the engine's work on the connection (Kestrel is done with it), then the shared parts.</summary>
    public sealed override async ValueTask DisposeAsync()
    {
        await DisposeEngineAsync();
        _connectionClosedSource.Dispose();
        await base.DisposeAsync();
    }

    /// <summary>The engine's part of <see cref="DisposeAsync"/>: complete the pipes, wait for both sides to end.</summary>
    private protected abstract ValueTask DisposeEngineAsync();

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}

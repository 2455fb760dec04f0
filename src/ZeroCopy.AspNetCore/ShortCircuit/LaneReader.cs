using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Transport;

namespace ZeroCopy.AspNetCore.ShortCircuit;

/// <summary>
/// The connection input Kestrel reads: while Kestrel waits for its next request, the lane answers
/// the plain requests at the front of the input itself and hands Kestrel exactly one request at a
/// time, or the rest of the connection.
/// </summary>
/// <remarks>
/// <para>
/// Ordering: the lane runs only inside Kestrel's pending <see cref="ReadAsync"/>, which Kestrel's
/// HTTP/1.x loop calls for the next request only after it has written and flushed the previous
/// response (HttpProtocol.ProcessRequests awaits ProduceEnd, and reads nothing while a request
/// without a body is processed). So lane responses and Kestrel's responses are written to the
/// output by one caller at a time, in request order. A request the lane forwards is handed over
/// alone (the buffer Kestrel sees ends where the request ends, which the lane knows because it has
/// no body); when Kestrel asks for more, it has answered it.
/// </para>
/// <para>
/// Threads: the input pipe of a lane connection resumes its reader inline, so the lane answers on
/// the transport's thread where the bytes arrived (the EventLoop engine's loop, the Sockets
/// engine's I/O queue) and its response is sent in the same turn: no thread-pool hop, as nginx's
/// event loop. The lane runs no application code and never blocks on the network; every read
/// result Kestrel gets is handed to the thread pool first (<see cref="HandOffAsync(ValueTask{ReadResult})"/>),
/// unless Kestrel runs inline anyway (UnsafePreferInlineScheduling).
/// </para>
/// <para>
/// Certainty: a head the lane cannot read with no doubt (<see cref="LaneRequest"/>), a request with
/// a body, an upgrade, an incomplete head, or a failure hands the rest of the connection to Kestrel
/// for good: the lane never parses a connection again after Kestrel may have read a body from it,
/// so the two can never disagree on where a request ends.
/// </para>
/// <para>
/// Timeouts: the lane closes a connection itself, gracefully (Kestrel's own path:
/// <see cref="IConnectionLifetimeNotificationFeature.RequestClose"/>), once it has been idle for
/// Kestrel's KeepAliveTimeout after lane answers, checked on Kestrel's once-a-second heartbeat.
/// Kestrel's own keep-alive timer keeps running from Kestrel's last response and cannot be pushed
/// back from here: Kestrel 10 does not put <c>IConnectionTimeoutFeature</c> in the transport
/// connection's features (measured: null when the lane answers), so a connection busy with lane
/// answers is still closed by Kestrel KeepAliveTimeout after its last request through Kestrel.
/// Request-header timeouts are Kestrel's: a head the lane would have to wait for goes to Kestrel.
/// </para>
/// </remarks>
internal sealed class LaneReader : PipeReader
{
    /// <summary>Lane responses written before a flush (bounded like Kestrel's output buffer).</summary>
    private const int FlushEvery = 64 * 1024;

    /// <summary>Bytes of Kestrel's first response kept to read its status line and Connection header.</summary>
    private const int FirstHeadBytes = 512;

    /// <summary>How long the lane waits for the end of a head before Kestrel gets it (checked once a second).</summary>
    private const long HeadHoldMilliseconds = 1000;

    private readonly ShortCircuitLane _lane;
    private readonly PipeReader _inner;
    private readonly RegionPipeWriter _output;
    private readonly IFeatureCollection _features;
    private readonly LaneSettings _settings;
    private readonly bool _handOff;
    private byte[]? _scratch;
    private volatile bool _passThrough;

    // Keep-alive: the last time the connection did anything (a lane answer, Kestrel back for more).
    private long _lastActivity;
    private volatile bool _kestrelBusy;
    private volatile bool _answeredAny;

    // Kestrel has answered a request on this connection (the lane answers none before that).
    private bool _kestrelAnswered;
    private bool _heartbeat;
    private int _closeRequested;

    // An incomplete head the lane waits for: since when (0: none), and the heartbeat's decision to
    // hand it to Kestrel.
    private long _headSince;
    private int _giveUpHead;

    /// <param name="lane">The lane's settings and answers.</param>
    /// <param name="inner">The input pipe's reader (its continuations run inline on the transport's thread when <paramref name="handOff"/>).</param>
    /// <param name="output">The connection's output writer.</param>
    /// <param name="features">The connection's features.</param>
    /// <param name="handOff">Hand read results to the thread pool before Kestrel sees them (Kestrel is not inline).</param>
    public LaneReader(ShortCircuitLane lane, PipeReader inner, RegionPipeWriter output, IFeatureCollection features, bool handOff)
    {
        // The head of Kestrel's first response says whether Kestrel runs HTTP/1.x here and keeps
        // the connection (see KestrelKeepsHttp1).
        output.CaptureHead(FirstHeadBytes);
        _handOff = handOff;
        _lane = lane;
        _inner = inner;
        _output = output;
        _features = features;
        _settings = lane.Settings;
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (!_passThrough)
        {
            return ReadLaneAsync(cancellationToken);
        }

        var read = _inner.ReadAsync(cancellationToken);
        return !_handOff || read.IsCompleted ? read : HandOffAsync(read);
    }

    /// <summary>
    /// A read that completes later completes on the transport's thread (the input pipe's reader
    /// scheduler is inline for the lane): Kestrel, and the application behind it, continue on the
    /// thread pool instead, as with the application scheduler the pipe would otherwise have.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<ReadResult> HandOffAsync(ValueTask<ReadResult> read)
    {
        var result = await read;
        await Task.Yield();
        return result;
    }

    public override bool TryRead(out ReadResult result)
    {
        if (_passThrough)
        {
            return _inner.TryRead(out result);
        }

        // Kestrel then calls ReadAsync, where the lane runs.
        result = default;
        return false;
    }

    public override void AdvanceTo(SequencePosition consumed) => _inner.AdvanceTo(consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => _inner.AdvanceTo(consumed, examined);

    public override void CancelPendingRead() => _inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => _inner.Complete(exception);

    // Pooled: Kestrel calls this once per request it is handed (every request on a connection the
    // lane does not answer), and the state machine would otherwise be allocated each time.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> ReadLaneAsync(CancellationToken cancellationToken)
    {
        if (_kestrelBusy)
        {
            // Kestrel is back for its next request: it has answered the one it was given.
            _kestrelBusy = false;
            Volatile.Write(ref _lastActivity, Environment.TickCount64);
            if (!_kestrelAnswered)
            {
                if (!KestrelKeepsHttp1(_output.CapturedHead))
                {
                    // Not Kestrel's HTTP/1.x loop (an HTTP/2-only endpoint answers an HTTP/1.1
                    // request with a 400 and goes on reading): never answer on this connection.
                    LaneLog.PassThrough(_lane.Logger, ConnectionId, "Kestrel's first answer was not an HTTP/1.1 keep-alive response");
                    _passThrough = true;
                    return await ReadAsync(cancellationToken);
                }

                _kestrelAnswered = true;
            }
        }

        // True while this method runs where the input pipe resumed it: the transport's thread.
        var onTransport = false;
        while (true)
        {
            var read = _inner.ReadAsync(cancellationToken);
            onTransport |= _handOff && !read.IsCompleted;
            var result = await read;
            var buffer = result.Buffer;
            if (result.IsCanceled)
            {
                if (Interlocked.Exchange(ref _giveUpHead, 0) != 0)
                {
                    // A head still incomplete after a heartbeat: Kestrel gets it, under its own
                    // request-header timeout, and the rest of the connection.
                    LaneLog.PassThrough(_lane.Logger, ConnectionId, "a head still incomplete after a heartbeat");
                    return await PassThroughAsync(new ReadResult(buffer, isCanceled: false, result.IsCompleted), onTransport);
                }

                if (!IgnoresKestrelStop())
                {
                    return await HandOffAsync(result, onTransport);
                }

                // Kestrel's keep-alive timer, which started at its own last response, fired on a
                // connection busy with lane answers: the connection is not idle, so it stays open.
                // Kestrel answers its next request with "Connection: close" (it has turned
                // keep-alive off); the lane's heartbeat closes the connection once it is idle.
                LaneLog.KeepAliveStopIgnored(_lane.Logger, ConnectionId);
                if (buffer.IsEmpty)
                {
                    _inner.AdvanceTo(buffer.Start);
                    continue;
                }
            }
            else if (buffer.IsEmpty)
            {
                return await HandOffAsync(result, onTransport);
            }

            var position = buffer.Start;
            while (true)
            {
                var step = Run(buffer.Slice(position));

                position = step.Answered;
                if (step.Count > 0)
                {
                    var flush = _output.FlushAsync(cancellationToken);
                    if (!flush.IsCompleted)
                    {
                        // Backpressure: resumed by the output's writer scheduler, the application's.
                        await flush;
                        onTransport = false;
                    }

                    Answered();
                }

                switch (step.Next)
                {
                    case Next.More:
                        continue;
                    case Next.Read:
                        if (result.IsCompleted)
                        {
                            // The client finished sending: Kestrel sees the end as it would have.
                            return await PassThroughAsync(new ReadResult(buffer.Slice(position), isCanceled: false, isCompleted: true), onTransport);
                        }

                        _inner.AdvanceTo(position, buffer.End);
                        break;
                    case Next.Forward:
                        _kestrelBusy = true;
                        Volatile.Write(ref _headSince, 0);
                        return await HandOffAsync(new ReadResult(buffer.Slice(position, step.ForwardEnd), isCanceled: false, result.IsCompleted && step.ForwardEnd.Equals(buffer.End)), onTransport);
                    default:
                        return await PassThroughAsync(new ReadResult(buffer.Slice(position), isCanceled: false, result.IsCompleted), onTransport);
                }

                break;
            }
        }
    }

    /// <summary>
    /// Whether Kestrel's first response on the connection is HTTP/1.1 without <c>Connection:
    /// close</c>: Kestrel's HTTP/1.x request loop, which will ask for the next request only after
    /// answering the previous one. Kestrel writes <c>Connection</c> first among the headers.
    /// </summary>
    internal static bool KestrelKeepsHttp1(ReadOnlySpan<byte> head)
    {
        if (!head.StartsWith("HTTP/1.1 "u8))
        {
            return false;
        }

        var lineEnd = head.IndexOf("\r\n"u8);
        if (lineEnd < 0)
        {
            return false;
        }

        var fields = head[(lineEnd + 2)..];
        var end = fields.IndexOf("\r\n\r\n"u8);
        if (end >= 0)
        {
            fields = fields[..(end + 2)];
        }

        while (fields.IndexOf("\r\n"u8) is var next and >= 0)
        {
            var line = fields[..next];
            var colon = line.IndexOf((byte)':');
            if (colon > 0 && System.Text.Ascii.EqualsIgnoreCase(line[..colon], "connection"u8)
                && line[(colon + 1)..].Trim(" \t"u8).IndexOf("close"u8) >= 0)
            {
                return false;
            }

            fields = fields[(next + 2)..];
        }

        return true;
    }

    /// <summary>Hands Kestrel <paramref name="result"/> and the rest of the connection.</summary>
    private ValueTask<ReadResult> PassThroughAsync(ReadResult result, bool onTransport)
    {
        _kestrelBusy = true;
        _passThrough = true;
        Volatile.Write(ref _headSince, 0);
        return HandOffAsync(result, onTransport);
    }

    /// <summary>
    /// Whether a cancelled read is Kestrel's keep-alive timer stopping a connection that is busy with
    /// lane answers (which Kestrel cannot see), rather than a close the lane asked for, a server
    /// shutting down, or a connection Kestrel itself was the last to use.
    /// </summary>
    private bool IgnoresKestrelStop()
        => IdlePastKeepAlive(Environment.TickCount64) == false && Volatile.Read(ref _closeRequested) == 0 && !_lane.Stopping;

    /// <summary>
    /// Whether the connection has done nothing (no lane answer, no request through Kestrel) for
    /// Kestrel's KeepAliveTimeout; null when the lane has answered nothing here or the timeout is
    /// infinite (Kestrel's own timer is then the only one).
    /// </summary>
    private bool? IdlePastKeepAlive(long now)
        => _answeredAny && _settings.KeepAlive is { } keepAlive
            ? now - Volatile.Read(ref _lastActivity) >= (long)keepAlive.TotalMilliseconds
            : null;

    /// <summary>Returns <paramref name="result"/> to Kestrel, on the thread pool when this runs on the transport's thread.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<ReadResult> HandOffAsync(ReadResult result, bool onTransport)
    {
        if (onTransport)
        {
            await Task.Yield();
        }

        return result;
    }

    /// <summary>Answers the candidate requests at the front of <paramref name="buffer"/>, up to <see cref="FlushEvery"/> bytes.</summary>
    private Step Run(ReadOnlySequence<byte> buffer)
    {
        var consumed = buffer.Start;
        var count = 0;
        var before = _output.UnflushedBytes;
        while (true)
        {
            var rest = buffer.Slice(consumed);
            if (rest.IsEmpty)
            {
                Volatile.Write(ref _headSince, 0);
                return new Step(consumed, Next.Read, default, count);
            }

            var data = rest.FirstSpan;
            if (!LaneRequest.TryRead(data, _settings.Limits, out var request))
            {
                if (data.Length < rest.Length && data.Length < _settings.Limits.MaxHead)
                {
                    // The head may go on in the next segment of the pipe.
                    data = Gather(rest);
                }

                if (data.Length == rest.FirstSpan.Length || !LaneRequest.TryRead(data, _settings.Limits, out request))
                {
                    // Incomplete: wait for the rest of it, at most until the next heartbeat after
                    // a second (then Kestrel gets it, see OnHeartbeat).
                    if (Volatile.Read(ref _headSince) == 0)
                    {
                        Volatile.Write(ref _headSince, Environment.TickCount64);
                        WatchHeartbeat();
                    }

                    return new Step(consumed, Next.Read, default, count);
                }
            }

            Volatile.Write(ref _headSince, 0);
            var failed = false;
            var answered = request.Verdict == LaneVerdict.Candidate && _kestrelAnswered && TryAnswer(ref request, out failed);
            switch (request.Verdict)
            {
                // Kestrel always gets a connection's first request: some of its behaviour depends
                // on it (an HTTP/2 preface is answered one way as the first bytes of a connection,
                // another after a request), and it must not differ because the lane answered first.
                case LaneVerdict.Candidate when answered:
                    consumed = rest.GetPosition(request.Length);
                    count++;
                    if (_output.UnflushedBytes - before >= FlushEvery)
                    {
                        return new Step(consumed, Next.More, default, count);
                    }

                    continue;
                case LaneVerdict.Candidate when failed:
                    // Kestrel gets this request and the rest; the answers before it stand.
                    return new Step(consumed, Next.PassThrough, default, count);
                case LaneVerdict.Candidate or LaneVerdict.Forward:
                    return new Step(consumed, Next.Forward, rest.GetPosition(request.Length), count);
                default:
                    LaneLog.PassThrough(_lane.Logger, ConnectionId, "a head the lane does not read");
                    return new Step(consumed, Next.PassThrough, default, count);
            }
        }
    }

    /// <summary>
    /// The lane's answer to a candidate; <paramref name="failed"/> when it threw (logged). Nothing
    /// is half-written: a response is written whole or not at all (a write throws only when the
    /// output is completed, the connection ending, and then nothing is sent anyway).
    /// </summary>
    private bool TryAnswer(ref LaneRequest request, out bool failed)
    {
        failed = false;
        try
        {
            return _lane.TryAnswer(ref request, _output);
        }
        catch (Exception ex)
        {
            LaneLog.Failed(_lane.Logger, ConnectionId, ex);
            failed = true;
            return false;
        }
    }

    private ReadOnlySpan<byte> Gather(ReadOnlySequence<byte> rest)
    {
        var length = (int)Math.Min(rest.Length, _settings.Limits.MaxHead);
        _scratch ??= new byte[_settings.Limits.MaxHead];
        rest.Slice(0, length).CopyTo(_scratch);
        return _scratch.AsSpan(0, length);
    }

    private void Answered()
    {
        _answeredAny = true;
        Volatile.Write(ref _lastActivity, Environment.TickCount64);
        WatchHeartbeat();
    }

    private void WatchHeartbeat()
    {
        if (!_heartbeat && _features.Get<IConnectionHeartbeatFeature>() is { } heartbeat)
        {
            _heartbeat = true;
            heartbeat.OnHeartbeat(static state => ((LaneReader)state).OnHeartbeat(), this);
        }
    }

    /// <summary>Kestrel's heartbeat (once a second, on its timer thread).</summary>
    private void OnHeartbeat()
    {
        if (_passThrough || _kestrelBusy)
        {
            return;
        }

        var now = Environment.TickCount64;
        var since = Volatile.Read(ref _headSince);
        if (since != 0 && now - since >= HeadHoldMilliseconds)
        {
            // The lane waited a second for the end of a head: it goes to Kestrel, whose
            // request-header timeout then runs (up to two seconds late).
            if (Interlocked.Exchange(ref _giveUpHead, 1) == 0)
            {
                _inner.CancelPendingRead();
            }

            return;
        }

        if (IdlePastKeepAlive(now) != true || Interlocked.Exchange(ref _closeRequested, 1) != 0)
        {
            return;
        }

        // Kestrel's graceful path (as for its own keep-alive timeout): the pending read is
        // cancelled, Kestrel stops, the transport sends FIN.
        LaneLog.KeepAliveTimeout(_lane.Logger, ConnectionId);
        _features.Get<IConnectionLifetimeNotificationFeature>()?.RequestClose();
    }

    private string? ConnectionId => _features.Get<IConnectionIdFeature>()?.ConnectionId;

    private enum Next : byte
    {
        /// <summary>More of the buffer to answer after a flush.</summary>
        More,
        /// <summary>Everything answered: read more.</summary>
        Read,
        /// <summary>Kestrel answers the next request (it ends at ForwardEnd).</summary>
        Forward,
        /// <summary>Kestrel gets the rest of the connection.</summary>
        PassThrough,
    }

    private readonly record struct Step(SequencePosition Answered, Next Next, SequencePosition ForwardEnd, int Count);
}

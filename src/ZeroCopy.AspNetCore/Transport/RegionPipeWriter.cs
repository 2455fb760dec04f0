using System.Diagnostics;
using System.IO.Pipelines;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>
/// The transport's output writer (what Kestrel sees as <c>Transport.Output</c>): a
/// <see cref="Pipe"/> writer that can also record a <see cref="FileRegion"/> at its exact position
/// in the byte stream.
/// </summary>
/// <remarks>
/// <para>
/// While a region is open, <see cref="GetMemory"/> hands out scratch memory that is never read and
/// <see cref="Advance"/> only counts: Kestrel believes it wrote the bytes (its Content-Length and
/// keep-alive accounting stay exact) and the send loop sends the file range in their place.
/// </para>
/// <para>
/// Invariants: a region opens only when nothing is unflushed; it closes exactly when Count bytes
/// were advanced; memory handed out while a region was open can never commit bytes to the pipe
/// after it closes (an Advance against stale scratch memory aborts the connection rather than
/// sending bytes nobody wrote); any other misuse aborts the connection, never sending wrong bytes.
/// </para>
/// </remarks>
internal sealed class RegionPipeWriter : PipeWriter
{
    // Contents are never read; one array serves every connection.
    private static readonly byte[] s_scratch = GC.AllocateUninitializedArray<byte>(1 << 20);

    private readonly Pipe _pipe;
    private readonly PipeWriter _inner;
    private byte[]? _head;
    private int _headLength;
    private Memory<byte> _headMemory;
    private readonly RegionQueue _regions;
    private readonly Action<string> _abort;

    private FileRegion? _open;
    private long _openRemaining;
    private Handout _handout;
    private long _scratchAvailable;
    private long _committed;
    private bool _wakeReader;

    private enum Handout : byte
    {
        None,
        Pipe,
        Scratch,
    }

    private readonly long _releaseThreshold;

    public RegionPipeWriter(Pipe pipe, RegionQueue regions, Action<string> abort, long releaseThreshold = long.MaxValue)
    {
        _releaseThreshold = releaseThreshold;
        _pipe = pipe;
        _inner = pipe.Writer;
        _regions = regions;
        _abort = abort;
    }

    /// <summary>Bytes committed to the pipe so far (a region's position is this count when it closes); read by tests.</summary>
    public long Committed => _committed;

    /// <summary>Whether a region is open (advanced bytes are counted, not written); read by tests.</summary>
    public bool HasOpenRegion => _open is not null;

    /// <param name="region">The region; its position is fixed when its last byte is advanced.</param>
    /// <param name="unflushed">
    /// The bytes the caller knows to be written into this writer and not flushed (the response
    /// headers); anything else unflushed means some writer in between holds bytes of its own.
    /// </param>
    public void BeginRegion(FileRegion region, long unflushed = 0)
    {
        if (_open is not null)
        {
            throw new InvalidOperationException("A file region is already open.");
        }

        if (_inner.UnflushedBytes != unflushed)
        {
            throw new InvalidOperationException($"A file region can only start when the unflushed bytes are the {unflushed} the caller accounted for ({_inner.UnflushedBytes} are).");
        }

        if (region.Count <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(region), "A file region needs at least one byte.");
        }

        region.Arm(_releaseThreshold);
        _open = region;
        _openRemaining = region.Count;
        // Whatever was handed out before cannot be advanced into the region.
        _handout = Handout.None;
    }

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        if (_open is null)
        {
            _handout = Handout.Pipe;
            var memory = _inner.GetMemory(sizeHint);
            if (_head is not null)
            {
                _headMemory = memory;
            }

            return memory;
        }

        var length = (int)Math.Min(s_scratch.Length, Math.Max(sizeHint, _openRemaining));
        _handout = Handout.Scratch;
        _scratchAvailable = length;
        return s_scratch.AsMemory(0, length);
    }

    public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public override void Advance(int bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (bytes == 0)
        {
            return;
        }

        if (_open is not null)
        {
            AdvanceRegion(bytes);
            return;
        }

        if (_handout == Handout.Scratch)
        {
            // Memory obtained while a region was open: these bytes were never meant for the pipe.
            Violation("Advance on memory that was handed out for a file region that has closed.");
        }

        if (_head is not null && _headLength < _head.Length)
        {
            var take = Math.Min(bytes, _head.Length - _headLength);
            _headMemory.Span[..take].CopyTo(_head.AsSpan(_headLength));
            _headLength += take;
        }

        _inner.Advance(bytes);
        _committed += bytes;
    }

    /// <summary>
    /// Keeps a copy of the first <paramref name="length"/> bytes written from now on (the head of
    /// the next response), for <see cref="CapturedHead"/>. Costs a copy only until they are in.
    /// </summary>
    internal void CaptureHead(int length)
    {
        _head = new byte[length];
        _headLength = 0;
    }

    /// <summary>The bytes kept since <see cref="CaptureHead"/> (up to its length).</summary>
    internal ReadOnlySpan<byte> CapturedHead => _head.AsSpan(0, _headLength);

    private void AdvanceRegion(int bytes)
    {
        if (_handout != Handout.Scratch || bytes > _scratchAvailable || bytes > _openRemaining)
        {
            Violation($"Advance({bytes}) does not fit the open file region ({_openRemaining} bytes left).");
        }

        _scratchAvailable -= bytes;
        _openRemaining -= bytes;
        if (_openRemaining > 0)
        {
            return;
        }

        var region = _open!;
        _open = null;
        // The scratch memory stays the last handout: an Advance on it after the region closed (a
        // writer that kept writing into the buffer it got for the region) must abort, not commit
        // whatever the pipe's own unused memory holds.
        region.Position = _committed;
        if (!_regions.TryEnqueue(region))
        {
            // The connection is already gone; nothing will send it.
            region.Dispose();
            return;
        }

        _wakeReader = true;
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        var flush = _inner.FlushAsync(cancellationToken);
        if (_wakeReader)
        {
            // A flush without new bytes does not wake a reader blocked in ReadAsync; the send loop
            // treats a cancelled read as "look at the region queue".
            _wakeReader = false;
            _pipe.Reader.CancelPendingRead();
        }

        return _regions.IsFull ? WaitForRegionSpaceAsync(flush, cancellationToken) : flush;
    }

    private async ValueTask<FlushResult> WaitForRegionSpaceAsync(ValueTask<FlushResult> flush, CancellationToken cancellationToken)
    {
        var result = await flush;
        await _regions.WaitForSpaceAsync(cancellationToken);
        return result;
    }

    public override void CancelPendingFlush() => _inner.CancelPendingFlush();

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _inner.UnflushedBytes;

    public override void Complete(Exception? exception = null)
    {
        if (_open is { } open)
        {
            _open = null;
            open.Dispose();
            _abort("The response ended inside a file region.");
        }

        _inner.Complete(exception);
    }

    public override ValueTask CompleteAsync(Exception? exception = null)
    {
        Complete(exception);
        return ValueTask.CompletedTask;
    }

    [StackTraceHidden]
    private void Violation(string message)
    {
        if (_open is { } open)
        {
            _open = null;
            open.Dispose();
        }

        _handout = Handout.None;
        _abort(message);
        throw new InvalidOperationException(message);
    }
}

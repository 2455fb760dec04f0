using System.Buffers;
using System.Diagnostics;
using Microsoft.AspNetCore.Connections;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;

namespace ZeroCopy.AspNetCore.Transport;

internal sealed partial class ZeroCopyConnection
{
    /// <summary>
    /// Drains the output pipe into the socket. <paramref>consumed</paramref> counts pipe bytes sent;
    /// a region whose position equals it is sent before any later pipe byte.
    /// </summary>
    private async Task SendLoopAsync()
    {
        Exception? shutdownReason = null;
        Exception? unexpected = null;
        var reset = true;
        var reader = _output.Reader;
        long consumed = 0;
        try
        {
            while (true)
            {
                while (_regions.TryPeek(out var region) && region!.Position == consumed)
                {
                    var outcome = await SendRegionAsync(region);
                    if (outcome != RegionOutcome.Sent)
                    {
                        (shutdownReason, reset) = RegionFailure.For(outcome, region, _logger, ConnectionId, _shutdownReason);
                        return;
                    }

                    _regions.CompleteHead();
                }

                var result = await reader.ReadAsync();
                if (_shutdownReason is not null)
                {
                    return;
                }

                var buffer = result.Buffer;
                var sendable = buffer.Length;
                FileRegion? next = null;
                if (_regions.TryPeek(out next))
                {
                    sendable = Math.Min(sendable, next!.Position - consumed);
                }

                if (sendable > 0)
                {
                    var slice = buffer.Slice(0, sendable);
                    var held = next is not null && next.Position == consumed + sendable ? SendBeforeRegion(slice) : 0;
                    if (held < sendable)
                    {
                        var sent = await _sender.SendAsync(_socket, slice.Slice(held));
                        if (sent.HasError)
                        {
                            shutdownReason = ClassifySendError(sent.Error!, ref unexpected);
                            return;
                        }
                    }

                    reader.AdvanceTo(slice.End);
                    consumed += sendable;
                    continue;
                }

                // Nothing to send before the next region (or nothing at all): examine nothing, so
                // the next read returns at once if bytes are waiting behind the region.
                reader.AdvanceTo(buffer.Start);
                if (result.IsCompleted && buffer.IsEmpty)
                {
                    if (next is null)
                    {
                        // Output completed and everything was sent: graceful FIN.
                        reset = false;
                        return;
                    }

                    if (next.Position != consumed)
                    {
                        throw new InvalidOperationException($"A file region at output position {next.Position} lies beyond the end of the output ({consumed}).");
                    }
                }
            }
        }
        catch (ObjectDisposedException ex)
        {
            shutdownReason = ex;
        }
        catch (Exception ex)
        {
            shutdownReason = ex;
            unexpected = ex;
            TransportLog.ConnectionError(_logger, ConnectionId, ex);
        }
        finally
        {
            // A graceful end or a file that ended early: FIN. A socket error: RST, as Kestrel does.
            Shutdown(shutdownReason, reset && shutdownReason is not null);
            reader.Complete(unexpected);
            // Unblock a receive loop that waits for Kestrel to read (it will see the shutdown).
            _input.Writer.CancelPendingFlush();
            _regions.Close();
        }
    }

    /// <summary>
    /// Sends the bytes that end exactly where a region starts (a response's headers) with
    /// MSG_MORE, so TCP holds the partial segment back and the file's first bytes fill it: the
    /// client gets headers and body together, as nginx's tcp_nopush does with sendfile, instead of a
    /// small segment (and a wake-up) of its own. The region's sendfile/splice/copy sends its last
    /// bytes without MSG_MORE, which pushes; a connection that ends first pushes with its FIN.
    /// Returns the bytes the kernel took; 0 when this path does not apply (several segments, not
    /// Linux) or the socket did not take them at once (the ordinary send then reports any error).
    /// </summary>
    private long SendBeforeRegion(in ReadOnlySequence<byte> bytes)
    {
        if (!LinuxOnly.IsSupported || _settings.Syscalls is not { } syscalls || !bytes.IsSingleSegment)
        {
            return 0;
        }

        var sent = syscalls.Send(_socket.SafeHandle, bytes.FirstSpan, SendFlags.MSG_MORE, out _);
        return Math.Max(sent, 0);
    }

    private Exception ClassifySendError(System.Net.Sockets.SocketException error, ref Exception? unexpected)
    {
        if (IsConnectionReset(error.SocketErrorCode))
        {
            TransportLog.ConnectionReset(_logger, ConnectionId);
            return new ConnectionResetException(error.Message, error);
        }

        if (!IsConnectionAbort(error.SocketErrorCode))
        {
            unexpected = error;
        }

        return error;
    }

    private async ValueTask<RegionOutcome> SendRegionAsync(FileRegion region)
    {
        Volatile.Write(ref _regionDeadline, RegionFailure.Deadline(region));

        try
        {
            return LinuxOnly.IsSupported && _regionSender is not null
                ? await _regionSender.SendAsync(region)
                : RegionOutcome.Failed;
        }
        finally
        {
            Volatile.Write(ref _regionDeadline, 0);
        }
    }
}

using Microsoft.AspNetCore.Connections;
using ZeroCopy.AspNetCore.Diagnostics;

namespace ZeroCopy.AspNetCore.Transport;

internal sealed partial class ZeroCopyConnection
{
    private const int MinReceiveBufferSize = 2048;

    private async Task ReceiveLoopAsync()
    {
        Exception? error = null;
        var input = _input.Writer;
        try
        {
            while (_shutdownReason is null)
            {
                if (_settings.WaitForDataBeforeAllocatingBuffer)
                {
                    // A zero-byte receive: idle connections hold no buffer.
                    var waited = await _receiver.WaitForDataAsync(_socket);
                    if (!IsNormal(waited, ref error))
                    {
                        break;
                    }
                }

                var memory = input.GetMemory(MinReceiveBufferSize);
                var received = await _receiver.ReceiveAsync(_socket, memory);
                if (!IsNormal(received, ref error))
                {
                    break;
                }

                if (received.BytesTransferred == 0)
                {
                    TransportLog.ConnectionReadFin(_logger, ConnectionId);
                    break;
                }

                input.Advance(received.BytesTransferred);
                var flushed = await input.FlushAsync();
                if (flushed.IsCompleted || flushed.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (ObjectDisposedException ex)
        {
            error = ex;
        }
        catch (Exception ex)
        {
            error = ex;
            TransportLog.ConnectionError(_logger, ConnectionId, ex);
        }
        finally
        {
            input.Complete(_shutdownReason ?? error);
            FireConnectionClosed();
            await ClosedCallbacksDone;
        }
    }

    private bool IsNormal(SocketOperationResult result, ref Exception? error)
    {
        if (_shutdownReason is not null)
        {
            return false;
        }

        if (!result.HasError)
        {
            return true;
        }

        var socketError = result.Error!;
        if (IsConnectionReset(socketError.SocketErrorCode))
        {
            error = new ConnectionResetException(socketError.Message, socketError);
            TransportLog.ConnectionReset(_logger, ConnectionId);
        }
        else
        {
            error = socketError;
            if (!IsConnectionAbort(socketError.SocketErrorCode))
            {
                TransportLog.ConnectionError(_logger, ConnectionId, socketError);
            }
        }

        return false;
    }
}

using System.Buffers;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using ZeroCopy.AspNetCore.Diagnostics;
using ZeroCopy.AspNetCore.Native;
using ZeroCopy.AspNetCore.Files;

namespace ZeroCopy.AspNetCore.Body;

/// <summary>
/// The Stream strategy: file bytes are read straight into memory obtained from
/// <c>Response.BodyWriter</c> (no intermediate buffer, nothing allocated per request), one pooled
/// 64 KiB segment at a time, flushing after each.
/// </summary>
/// <remarks>
/// <para>
/// After each read, before the bytes are committed, the descriptor is fstat'ed (Linux): if the file
/// changed (inode, size, mtime) since the headers were computed, the connection is aborted rather
/// than sending bytes of another version under these headers.
/// </para>
/// Reads are synchronous pread(2) calls: a page-cache hit costs a few microseconds, which is less
/// than the thread-pool hop of an "async" file read on Linux (the runtime performs those as
/// blocking reads on a pool thread anyway).
/// </remarks>
internal static class StreamBodySender
{
    internal const int ChunkSize = 64 * 1024;

    /// <summary>
    /// Sends <paramref name="count"/> bytes at <paramref name="offset"/>. Returns the number of bytes
    /// handed to the response; if the file ends early the connection is aborted (a client must see
    /// a short body, never a wrong one or a hang).
    /// </summary>
    public static async Task<long> SendAsync(HttpContext context, ResolvedFile file, long offset, long count, ILogger logger, string? path)
    {
        if (count == 0)
        {
            return 0;
        }

        var cancel = context.RequestAborted;
        var result = default(CopyResult);
        try
        {
            if (file.HasContent)
            {
                // The cache's immutable copy, from memory (its descriptor is the arena's memfd, in
                // which the copy starts at ContentOffset, not at 0).
                context.Response.BodyWriter.Write(file.Content.Slice(checked((int)offset), checked((int)count)));
                result = new CopyResult(count, FileEnded: false);
                await context.Response.BodyWriter.FlushAsync(cancel);
            }
            else if (file.Handle is { } handle)
            {
                result = await CopyAsync(context, new HandleReader(handle, file.Version), offset, count, cancel);
            }
            else if (file.Version.PhysicalPath is { } physicalPath)
            {
                using var opened = File.OpenHandle(physicalPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                result = await CopyAsync(context, new HandleReader(opened, file.Version), offset, count, cancel);
            }
            else
            {
                await using var stream = file.Version.Info.CreateReadStream();
                if (offset > 0)
                {
                    stream.Seek(offset, SeekOrigin.Begin);
                }

                result = await CopyAsync(context, new StreamReader(stream), offset, count, cancel);
            }
        }
        catch (OperationCanceledException ex)
        {
            StaticFileLog.WriteCancelled(logger, ex);
            return result.Sent;
        }

        if (result.FileEnded)
        {
            StaticFileLog.FileShrank(logger, path, result.Sent, count);
            context.Abort();
        }
        else if (result.FileChanged)
        {
            StaticFileLog.FileChanged(logger, path, result.Sent, count);
            context.Abort();
        }
        else if (result.Stopped)
        {
            // The output ended under us (client reset, server abort). Kestrel hears of it through
            // a thread-pool item and could first check Content-Length against the short body and
            // log an application error; aborting says what happened.
            context.Abort();
        }

        return result.Sent;
    }

    /// <param name="Sent">Bytes handed to the response.</param>
    /// <param name="FileEnded">The file ended before the requested count (it shrank).</param>
    /// <param name="FileChanged">The file is no longer the version the headers describe.</param>
    /// <param name="Stopped">The response's output ended before the body did.</param>
    private readonly record struct CopyResult(long Sent, bool FileEnded, bool FileChanged = false, bool Stopped = false);

    /// <summary>
    /// Reads straight into memory from the response's writer, chunk by chunk, re-checking the file
    /// after every read and before the bytes are committed.
    /// </summary>
    private static async ValueTask<CopyResult> CopyAsync<TReader>(HttpContext context, TReader reader, long offset, long count, CancellationToken cancel)
        where TReader : IChunkReader
    {
        var writer = context.Response.BodyWriter;
        long sent = 0;
        while (sent < count)
        {
            var memory = writer.GetMemory(ChunkSize);
            var want = (int)Math.Min(memory.Length, count - sent);
            var read = await reader.ReadAsync(memory[..want], offset + sent, cancel);
            if (read == 0)
            {
                return new CopyResult(sent, FileEnded: true);
            }

            if (!reader.IsStillVersion())
            {
                return new CopyResult(sent, FileEnded: false, FileChanged: true);
            }

            writer.Advance(read);
            sent += read;
            var flushed = await writer.FlushAsync(cancel);
            if (flushed.IsCompleted || flushed.IsCanceled)
            {
                return new CopyResult(sent, FileEnded: false, Stopped: sent < count);
            }
        }

        return new CopyResult(sent, FileEnded: false);
    }

    private interface IChunkReader
    {
        /// <summary>Reads at <paramref name="position"/> of the file (a stream reads on from where it is).</summary>
        ValueTask<int> ReadAsync(Memory<byte> destination, long position, CancellationToken cancel);

        /// <summary>Whether the file is still the version the response headers describe.</summary>
        bool IsStillVersion();
    }

    /// <summary>pread(2) on a descriptor, synchronously (see the remarks on the class).</summary>
    private readonly struct HandleReader(SafeFileHandle handle, FileVersion version) : IChunkReader
    {
        public ValueTask<int> ReadAsync(Memory<byte> destination, long position, CancellationToken cancel)
        {
            cancel.ThrowIfCancellationRequested();
            return new(RandomAccess.Read(handle, destination.Span, position));
        }

        public bool IsStillVersion() => StreamBodySender.IsStillVersion(handle, version);
    }

    /// <summary>A provider's stream (no physical path): positioned by the caller, no version check possible.</summary>
    private readonly struct StreamReader(Stream stream) : IChunkReader
    {
        public ValueTask<int> ReadAsync(Memory<byte> destination, long position, CancellationToken cancel) => stream.ReadAsync(destination, cancel);

        public bool IsStillVersion() => true;
    }

    /// <summary>Compares the descriptor's fstat with the version the headers came from.</summary>
    private static bool IsStillVersion(SafeFileHandle handle, FileVersion version)
    {
        if (!LinuxOnly.IsSupported || version.Identity is null)
        {
            return true;
        }

        return Native.Interop.FStat(handle, out var now) != Native.Errno.None || version.IsSameFile(now);
    }
}

using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.Win32.SafeHandles;
using ZeroCopy.AspNetCore.Transport;

namespace ZeroCopy.AspNetCore.Tests.Transport;

/// <summary>
/// <see cref="RegionPipeWriter"/> driven directly, without a socket: the writer over a
/// <see cref="Pipe"/> and a <see cref="RegionQueue"/>, as <c>ZeroCopyConnection</c> builds it. The
/// output stream the send loop would produce is the pipe's bytes with each queued region inserted at
/// its <see cref="FileRegion.Position"/> (pipe bytes consumed before it).
/// </summary>
public sealed class RegionPipeWriterTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
    private readonly RegionQueue _regions = new(limit: 16);
    private readonly List<string> _aborts = [];
    private readonly SafeFileHandle _file = File.OpenHandle("/dev/null");
    private readonly RegionPipeWriter _writer;

    public RegionPipeWriterTests() => _writer = new RegionPipeWriter(_pipe, _regions, _aborts.Add);

    public void Dispose()
    {
        _regions.Close();
        _file.Dispose();
    }

    [Fact]
    public async Task Region_position_is_the_count_of_pipe_bytes_before_it()
    {
        Write("HTTP/1.1 200 OK\r\n\r\n");
        var region = AdvanceRegion(count: 10, unflushed: 19);
        Write("next");
        await FlushAsync();

        Assert.Equal(19, region.Position);
        Assert.Equal("HTTP/1.1 200 OK\r\n\r\n[10@0]next", await OutputAsync());
        Assert.Equal(23, _writer.Committed);
        Assert.Empty(_aborts);
    }

    [Fact]
    public async Task Regions_between_flushed_writes_keep_exact_positions()
    {
        Write("aaa");
        await FlushAsync();
        var first = AdvanceRegion(count: 5, offset: 100);
        Write("bbbbbbb");
        await FlushAsync();
        var second = AdvanceRegion(count: 1, offset: 200);
        // Back to back: the third region sits at the same pipe position as the second.
        var third = AdvanceRegion(count: 2, offset: 300);
        Write("c");
        await FlushAsync();

        Assert.Equal([3L, 10L, 10L], new[] { first.Position, second.Position, third.Position });
        Assert.Equal("aaa[5@100]bbbbbbb[1@200][2@300]c", await OutputAsync());
    }

    [Fact]
    public async Task Region_larger_than_one_scratch_buffer_takes_several_handouts_and_closes_on_its_last_byte()
    {
        const long count = (3L << 20) + 7;
        Write("h");
        var region = new FileRegion(_file, 0, count, ZeroCopyMode.SendFile, null, "big");
        _writer.BeginRegion(region, unflushed: 1);
        var handouts = 0;
        for (var left = count; left > 0; handouts++)
        {
            var memory = _writer.GetMemory();
            Assert.True(memory.Length > 0);
            var step = (int)Math.Min(memory.Length, left);
            _writer.Advance(step);
            left -= step;
            Assert.Equal(left > 0, _writer.HasOpenRegion);
        }

        Write("t");
        await FlushAsync();

        Assert.True(handouts >= 4, $"{handouts} handouts for {count} bytes");
        Assert.Equal(1, region.Position);
        Assert.Equal($"h[{count}@0]t", await OutputAsync());
    }

    [Fact]
    public async Task Several_advances_on_one_buffer_commit_consecutive_bytes()
    {
        // Kestrel's header writer: GetSpan once, then Advance after each piece it writes.
        var span = _writer.GetSpan(64);
        Encoding.ASCII.GetBytes("HTTP/1.1 ", span);
        _writer.Advance(9);
        Encoding.ASCII.GetBytes("200 OK\r\n", span[9..]);
        _writer.Advance(8);
        Encoding.ASCII.GetBytes("\r\n", span[17..]);
        _writer.Advance(2);
        await FlushAsync();

        Assert.Equal(19, _writer.Committed);
        Assert.Equal("HTTP/1.1 200 OK\r\n\r\n", await OutputAsync());
    }

    [Fact]
    public async Task Several_advances_on_one_scratch_buffer_count_toward_the_region()
    {
        Write("H");
        var region = new FileRegion(_file, 0, 10, ZeroCopyMode.SendFile, null, "r");
        _writer.BeginRegion(region, unflushed: 1);
        _writer.GetMemory();
        _writer.Advance(4);
        Assert.True(_writer.HasOpenRegion);
        _writer.Advance(6);
        Assert.False(_writer.HasOpenRegion);
        Write("T");
        await FlushAsync();

        Assert.Equal("H[10@0]T", await OutputAsync());
    }

    // Without the guard this Advance would go to the pipe and commit 4 bytes nobody wrote (the
    // pipe segment's unused memory), with "REAL" left in scratch.
    [Fact]
    public async Task Scratch_memory_never_commits_bytes_written_after_its_region_closed()
    {
        Write("H");
        var region = new FileRegion(_file, 0, 4, ZeroCopyMode.SendFile, null, "r");
        _writer.BeginRegion(region, unflushed: 1);
        // A caller asks for more than the region holds, advances the region's bytes, then writes
        // real bytes into the rest of the same buffer.
        var scratch = _writer.GetMemory(64);
        Assert.True(scratch.Length > 4);
        _writer.Advance(4);
        Assert.False(_writer.HasOpenRegion);
        Encoding.ASCII.GetBytes("REAL", scratch.Span[4..]);

        var error = Assert.Throws<InvalidOperationException>(() => _writer.Advance(4));

        Assert.Contains("handed out for a file region", error.Message);
        Assert.Equal(error.Message, Assert.Single(_aborts));
        Assert.Equal(1, _writer.Committed);
        _writer.Complete();
        Assert.Equal("H[4@0]", await OutputAsync());
    }

    [Fact]
    public async Task Memory_handed_out_after_a_region_closes_commits_real_bytes()
    {
        Write("H");
        AdvanceRegion(count: 4, unflushed: 1);
        var span = _writer.GetSpan(4);
        Encoding.ASCII.GetBytes("REAL", span);
        _writer.Advance(4);
        await FlushAsync();

        Assert.Equal("H[4@0]REAL", await OutputAsync());
        Assert.Empty(_aborts);
    }

    [Fact]
    public async Task Pipe_memory_handed_out_before_a_region_opened_cannot_advance_into_it()
    {
        var before = _writer.GetMemory(8);
        Encoding.ASCII.GetBytes("OLD", before.Span);
        var region = new FileRegion(_file, 0, 3, ZeroCopyMode.SendFile, null, "r");
        _writer.BeginRegion(region);

        Assert.Throws<InvalidOperationException>(() => _writer.Advance(3));

        Assert.Single(_aborts);
        Assert.False(_writer.HasOpenRegion);
        Assert.Equal(0, _regions.Count);
        _writer.Complete();
        Assert.Equal("", await OutputAsync());
    }

    [Theory]
    [InlineData(5, 6)]
    [InlineData(5, 1 << 20)]
    public void Advance_past_the_open_region_aborts(int count, int advance)
    {
        var region = new FileRegion(_file, 0, count, ZeroCopyMode.SendFile, null, "r");
        _writer.BeginRegion(region);
        _writer.GetMemory(advance);

        Assert.Throws<InvalidOperationException>(() => _writer.Advance(advance));

        Assert.Single(_aborts);
        Assert.Equal(0, _regions.Count);
        Assert.False(_writer.HasOpenRegion);
    }

    [Fact]
    public void Region_cannot_open_over_unflushed_bytes_it_was_not_told_about()
    {
        Write("header");
        var region = new FileRegion(_file, 0, 3, ZeroCopyMode.SendFile, null, "r");

        Assert.Throws<InvalidOperationException>(() => _writer.BeginRegion(region, unflushed: 5));
        Assert.False(_writer.HasOpenRegion);

        _writer.BeginRegion(region, unflushed: 6);
        Assert.True(_writer.HasOpenRegion);
    }

    [Fact]
    public async Task Completing_inside_a_region_aborts_and_releases_the_region()
    {
        var region = new FileRegion(_file, 0, 10, ZeroCopyMode.SendFile, null, "r");
        var writer = new RegionPipeWriter(_pipe, _regions, _aborts.Add, releaseThreshold: 1);
        writer.BeginRegion(region);
        writer.GetMemory();
        writer.Advance(9);

        writer.Complete();

        Assert.Single(_aborts);
        Assert.Equal(0, _regions.Count);
        Assert.True(region.Released.IsCompleted);
        Assert.False(await region.Released);
    }

    [Fact]
    public async Task Flush_after_a_region_closes_wakes_a_reader_waiting_for_bytes()
    {
        var read = _pipe.Reader.ReadAsync(TestContext.Current.CancellationToken);
        Assert.False(read.IsCompleted);
        AdvanceRegion(count: 3);

        await FlushAsync();

        var result = await read.AsTask().WaitAsync(Timeout, TestContext.Current.CancellationToken);
        Assert.True(result.IsCanceled);
        Assert.True(result.Buffer.IsEmpty);
        _pipe.Reader.AdvanceTo(result.Buffer.Start);
    }

    [Fact]
    public async Task Region_closed_after_the_connection_is_gone_is_released_not_queued()
    {
        var writer = new RegionPipeWriter(_pipe, _regions, _aborts.Add, releaseThreshold: 1);
        var region = new FileRegion(_file, 0, 4, ZeroCopyMode.SendFile, null, "r");
        writer.BeginRegion(region);
        _regions.Close();
        writer.GetMemory();

        writer.Advance(4);

        Assert.False(writer.HasOpenRegion);
        Assert.Equal(0, _regions.Count);
        Assert.True(region.Released.IsCompleted);
        Assert.False(await region.Released);
    }

    private ValueTask<FlushResult> FlushAsync() => _writer.FlushAsync(TestContext.Current.CancellationToken);

    private void Write(string ascii)
    {
        var span = _writer.GetSpan(ascii.Length);
        _writer.Advance(Encoding.ASCII.GetBytes(ascii, span));
    }

    private FileRegion AdvanceRegion(long count, long offset = 0, long unflushed = 0)
    {
        var region = new FileRegion(_file, offset, count, ZeroCopyMode.SendFile, null, "r");
        _writer.BeginRegion(region, unflushed);
        for (var left = count; left > 0;)
        {
            var step = (int)Math.Min(_writer.GetMemory().Length, left);
            _writer.Advance(step);
            left -= step;
        }

        Assert.False(_writer.HasOpenRegion);
        return region;
    }

    /// <summary>
    /// The output as the send loop orders it: pipe bytes as ASCII, each queued region as
    /// <c>[count@offset]</c> where its position says. Completes the writer.
    /// </summary>
    private async Task<string> OutputAsync()
    {
        _writer.Complete();
        var bytes = new List<byte>();
        while (true)
        {
            var result = await _pipe.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(Timeout, TestContext.Current.CancellationToken);
            bytes.AddRange(result.Buffer.ToArray());
            _pipe.Reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        var output = new StringBuilder();
        long consumed = 0;
        while (_regions.TryPeek(out var region))
        {
            Assert.InRange(region!.Position, consumed, bytes.Count);
            output.Append(Encoding.ASCII.GetString([.. bytes.Skip((int)consumed).Take((int)(region.Position - consumed))]));
            output.Append($"[{region.Count}@{region.Offset}]");
            consumed = region.Position;
            _regions.CompleteHead();
        }

        output.Append(Encoding.ASCII.GetString([.. bytes.Skip((int)consumed)]));
        return output.ToString();
    }
}

using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using Microsoft.Win32.SafeHandles;
using ZeroCopy.AspNetCore.Transport;

namespace ZeroCopy.AspNetCore.Benchmarks;

/// <summary>
/// What a file region costs the output writer, without any I/O: arm a region, advance its bytes
/// through GetMemory/Advance as the middleware does, flush, and the send loop's dequeue. Compared
/// with writing the same bytes into the pipe (what Stream does before any send).
/// </summary>
[MemoryDiagnoser]
public class RegionBookkeepingBenchmarks
{
    private Pipe _pipe = null!;
    private RegionQueue _regions = null!;
    private RegionPipeWriter _writer = null!;
    private SafeFileHandle _file = null!;
    private byte[] _bytes = null!;

    [Params(4096, 1 << 20)]
    public int Length { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        _regions = new RegionQueue(16);
        _writer = new RegionPipeWriter(_pipe, _regions, static reason => throw new InvalidOperationException(reason));
        // A handle the region holds a reference on while it is queued: it owns nothing.
        _file = new SafeFileHandle(0, ownsHandle: false);
        _bytes = new byte[Length];
    }

    [Benchmark(Description = "region: begin + advance + flush + dequeue")]
    public async ValueTask<long> Region()
    {
        _writer.BeginRegion(new FileRegion(_file, 0, Length, ZeroCopyMode.SendFile, minDataRate: null, path: null));
        long remaining = Length;
        while (remaining > 0)
        {
            var memory = _writer.GetMemory();
            var step = (int)Math.Min(memory.Length, remaining);
            _writer.Advance(step);
            remaining -= step;
        }

        await _writer.FlushAsync();
        // The send loop's side: the cancelled read that announces the region, then the dequeue.
        var read = await _pipe.Reader.ReadAsync();
        _pipe.Reader.AdvanceTo(read.Buffer.End);
        _regions.TryPeek(out var region);
        _regions.CompleteHead();
        return region!.Count;
    }

    [Benchmark(Baseline = true, Description = "stream: the same bytes written into the pipe")]
    public async ValueTask<long> Stream()
    {
        await _writer.WriteAsync(_bytes);
        var read = await _pipe.Reader.ReadAsync();
        var length = read.Buffer.Length;
        _pipe.Reader.AdvanceTo(read.Buffer.End);
        return length;
    }
}

using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace ZeroCopy.AspNetCore.Tests.Transport;

/// <summary>
/// Proof that file bytes take the kernel path: the server runs under strace (on the engine named by
/// the configuration key on its command line), and the descriptors of the served file see
/// sendfile/splice and never read/pread64.
/// </summary>
public sealed class KernelPathTests : IDisposable
{
    private readonly TempDirectory _root = new("zc-strace");

    public void Dispose() => _root.Dispose();

    public static TheoryData<ZeroCopyTransportEngine, string, string> KernelCalls => Engines.Cross(("SendFile", "sendfile"), ("Splice", "splice"));

    [Theory]
    [MemberData(nameof(KernelCalls))]
    public async Task The_file_is_sent_with_the_kernel_call_and_never_read(ZeroCopyTransportEngine engine, string mode, string syscall)
    {
        Engines.Require(engine);
        var ct = TestContext.Current.CancellationToken;
        var file = _root.WriteRandom("big.bin", 4 << 20, seed: 21);
        await using (var server = await StraceServer.StartAsync(
            _root.Path,
            _root.Combine("trace.log"),
            "openat,openat2,fcntl,close,sendfile,splice,read,pread64",
            Engines.Argument(engine),
            "--ZeroCopyStaticFiles:Mode=" + mode,
            "--ZeroCopyStaticFiles:MinZeroCopyBytes=0",
            "--ZeroCopyStaticFiles:Cache:Enabled=false"))
        {
            using var client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
            var body = await client.GetByteArrayAsync("/big.bin", ct);
            Assert.Equal(SHA256.HashData(File.ReadAllBytes(file)), SHA256.HashData(body));
            await server.DisposeAsync();

            var (kernelCalls, reads, opens) = Analyse(server.Calls(), "big.bin");
            Assert.True(opens > 0, "the file was never opened: " + server.Output);
            Assert.True(kernelCalls.GetValueOrDefault(syscall) > 0, $"no {syscall} on the file's descriptors; calls seen: {string.Join(", ", kernelCalls)}");
            Assert.Empty(reads);
        }
    }

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task Headers_before_a_file_region_are_held_back_for_the_file_bytes(ZeroCopyTransportEngine engine)
    {
        Engines.Require(engine);
        // One flush for headers and region: the send loop finds the region queued right behind the
        // headers and sends them with MSG_MORE, then the file with sendfile, on the same socket,
        // with no other send in between (what nginx's tcp_nopush does with sendfile).
        var ct = TestContext.Current.CancellationToken;
        var expected = File.ReadAllBytes(_root.WriteRandom("mid.bin", 64 * 1024, seed: 22));
        await using (var server = await StraceServer.StartAsync(
            _root.Path,
            _root.Combine("trace.log"),
            "sendto,sendmsg,sendfile,writev,write",
            Engines.Argument(engine),
            "--ZeroCopyStaticFiles:Mode=SendFile",
            "--ZeroCopyStaticFiles:MinZeroCopyBytes=0",
            "--ZeroCopyStaticFiles:Cache:Enabled=false"))
        {
            using var client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(expected, await client.GetByteArrayAsync("/mid.bin", ct));
            }

            await server.DisposeAsync();

            var calls = server.Calls().ToList();
            var headerSends = calls.Where(c => c.Name is "sendto" or "sendmsg" && c.Args.Contains("HTTP/1.1 200", StringComparison.Ordinal)).ToList();
            Assert.Equal(3, headerSends.Count);
            foreach (var headers in headerSends)
            {
                Assert.Contains("MSG_MORE", headers.Args, StringComparison.Ordinal);
                var socket = headers.Fd();
                var next = calls.Skip(calls.IndexOf(headers) + 1).First(c => c.Name is "sendto" or "sendmsg" or "sendfile" or "writev" or "write" && c.Fd() == socket);
                Assert.Equal("sendfile", next.Name);
            }

            var socketFds = headerSends.Select(h => h.Fd()).ToHashSet();
            Assert.Equal(3L * expected.Length, calls.Where(c => c.Name == "sendfile" && socketFds.Contains(c.Fd()) && c.Result > 0).Sum(c => c.Result));
        }
    }

    /// <summary>Follows the descriptors of <paramref name="fileName"/> (opens, reopens, duplicates) through the trace.</summary>
    private static (Dictionary<string, int> KernelCalls, List<TracedCall> Reads, int Opens) Analyse(IEnumerable<TracedCall> calls, string fileName)
    {
        var descriptors = new HashSet<int>();
        var kernelCalls = new Dictionary<string, int>();
        var reads = new List<TracedCall>();
        var opens = 0;
        foreach (var call in calls)
        {
            switch (call.Name)
            {
                case "openat" or "openat2":
                    var reopen = Regex.Match(call.Args, "\"/proc/self/fd/(\\d+)\"");
                    if (call.Result >= 0 && (call.Args.Contains('"' + fileName + '"', StringComparison.Ordinal)
                        || call.Args.Contains("/" + fileName + '"', StringComparison.Ordinal)
                        || (reopen.Success && descriptors.Contains(int.Parse(reopen.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)))))
                    {
                        descriptors.Add((int)call.Result);
                        opens++;
                    }

                    break;
                case "fcntl" when call.Args.Contains("F_DUPFD", StringComparison.Ordinal) && descriptors.Contains(call.Fd()) && call.Result >= 0:
                    // A duplicate still names the file (regions hold a reference on the request's
                    // own descriptor now; duplicates are followed anyway).
                    descriptors.Add((int)call.Result);
                    break;
                case "close":
                    descriptors.Remove(call.Fd());
                    break;
                case "sendfile" when descriptors.Contains(call.Fd(1)):
                    kernelCalls["sendfile"] = kernelCalls.GetValueOrDefault("sendfile") + 1;
                    break;
                case "splice" when descriptors.Contains(call.Fd()):
                    kernelCalls["splice"] = kernelCalls.GetValueOrDefault("splice") + 1;
                    break;
                case "read" or "pread64" when descriptors.Contains(call.Fd()):
                    reads.Add(call);
                    break;
            }
        }

        return (kernelCalls, reads, opens);
    }
}

using System.Runtime.Versioning;
using System.Text;
using ZeroCopy.AspNetCore.Tests.Adversarial;

namespace ZeroCopy.AspNetCore.Tests.ShortCircuit;

/// <summary>
/// Issue 16, hostile paths: every target of the adversarial path corpus (traversal in every
/// spelling, Unicode look-alikes, raw and encoded control bytes, malformed percent-encoding, long
/// paths, other target forms; entries with HEAD and with Accept-Encoding: br, gzip) sent to a
/// lane-on and a lane-off server over the adversarial tree (canaries outside the root, escaping
/// symlinks, dot entries, FIFOs, hostile precompressed siblings), with the tree's files warmed into
/// the cache. Proves that every answer is byte-identical (Date aside), that the lane answered the
/// plain requests for cached files, and that nothing it answered came from outside the root, from a
/// dot-file or from a target with percent-encoding, an empty or a dot segment.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class LaneHostilePathTests
{
    private const string AcceptEncoding = "Accept-Encoding: br, gzip";

    /// <summary>Targets of files the middleware serves, warmed into the cache before the corpus.</summary>
    private static readonly string[] s_warmed =
    [
        "/a.txt", "/index.html", "/big.bin", "/sub/nested.txt", "/sub/deeper/leaf.txt", "/trail.txt", "/link-in.txt", "/link-in-abs.txt",
        "/link-in-big.bin", "/dir-in/nested.txt", "/semi;colon.txt", "/with%20space.txt", "/caf%C3%A9.txt", "/" + AdversarialTree.LongName255,
        "/" + string.Join('/', Enumerable.Range(1, 20).Select(i => "d" + i)) + "/deep.txt",
    ];

    /// <summary>Plain requests the lane must have answered.</summary>
    private static readonly string[] s_mustLane = ["GET /a.txt", "HEAD /a.txt", "GET+AE /a.txt", "GET /index.html", "HEAD /index.html", "GET /sub/nested.txt", "GET+AE /sub/nested.txt", "GET /trail.txt"];

    [Theory]
    [MemberData(nameof(Engines.All), MemberType = typeof(Engines))]
    public async Task The_hostile_path_corpus_gets_the_same_bytes_with_the_lane_on_and_off(ZeroCopyTransportEngine engine)
    {
        Engines.Require(engine);
        using var tree = new AdversarialTree();
        await using var pair = await LanePair.StartAsync(new LaneServerOptions
        {
            Engine = engine,
            ServedRoot = tree.Root,
            ContentRoot = tree.ContentRoot,
            // As the path corpus run: every name reaches the file system, not only known extensions.
            StaticFiles = provider => new StaticFileOptions { FileProvider = provider, ServeUnknownFileTypes = true },
        });
        try
        {
            await pair.WarmAsync(s_warmed.Select(t => (t, Array.Empty<string>())).Concat(s_warmed.Select(t => (t, new[] { AcceptEncoding }))));
            Assert.Equal(0, pair.On.LaneAnswers);

            var probes = new List<LaneProbe>();
            var targets = new List<byte[]>();
            foreach (var c in PathCorpus.Build(tree))
            {
                Add("GET", c.Target, null);
                if (c.AlsoHead)
                {
                    Add("HEAD", c.Target, null);
                    Add("GET+AE", c.Target, AcceptEncoding);
                }
            }

            void Add(string label, byte[] target, string? header)
            {
                var method = label == "HEAD" ? "HEAD" : "GET";
                byte[] bytes = [.. Encoding.ASCII.GetBytes(method + " "), .. target, .. Encoding.ASCII.GetBytes(" HTTP/1.1\r\nHost: localhost\r\n" + (header is null ? string.Empty : header + "\r\n") + "\r\n")];
                probes.Add(new LaneProbe(label + " " + RawRequest.Describe(target), bytes, method == "HEAD", LaneProbe.Doubtful(Encoding.Latin1.GetString(bytes))));
                targets.Add(target);
            }

            var (on, _, differences) = await LaneExchange.CompareAsync(pair, probes);

            var laneAnswered = Enumerable.Range(0, probes.Count).Where(i => on[i].LaneDelta > 0).ToList();
            TestContext.Current.TestOutputHelper?.WriteLine($"{engine}: {probes.Count} requests, {differences.Count} different, {laneAnswered.Count} answered by the lane; lane metric {pair.On.LaneAnswers}");
            Assert.True(differences.Count == 0, LaneExchange.Report("hostile targets answered differently with the lane on", differences));
            Assert.Equal(pair.On.LaneAnswers, on.Sum(o => o.LaneDelta));
            Assert.Equal(0, pair.Off.LaneAnswers);

            var missed = s_mustLane.Where(label => !laneAnswered.Any(i => probes[i].Label == label)).ToList();
            Assert.True(missed.Count == 0, "Plain requests for cached files the lane did not answer: " + string.Join(", ", missed));

            var wrong = new List<string>();
            foreach (var i in laneAnswered)
            {
                var target = Encoding.Latin1.GetString(targets[i]);
                var answer = on[i].Answer!;
                var path = target.Split('?')[0];
                if (!LaneDifferentialTests.PlainTarget(target))
                {
                    wrong.Add($"{probes[i].Label}: not a plain origin-form target, yet the lane answered {answer.Status}");
                }
                else if (path.Split('/')[^1].StartsWith('.'))
                {
                    // A dot-file (PhysicalFileProvider's ExclusionFilters.Sensitive; the middleware
                    // refuses it). A file inside a dot-directory (/.well-known/security.txt) is served
                    // by stock and by the middleware alike, so by the lane too.
                    wrong.Add($"{probes[i].Label}: a dot-file, yet the lane answered {answer.Status}");
                }
                else if (answer.Status is 200 && tree.Classify(path).Cause is not (PathCause.RegularFile or PathCause.SymlinkInsideRoot))
                {
                    wrong.Add($"{probes[i].Label}: {tree.Classify(path)}, yet the lane answered 200");
                }

                if (tree.ContainsCanary(answer.Bytes))
                {
                    wrong.Add($"{probes[i].Label}: the lane's answer holds canary bytes (from outside the root)");
                }
            }

            Assert.True(wrong.Count == 0, LaneExchange.Report("lane answers the contract forbids", wrong));
            var errors = pair.Errors();
            Assert.True(errors.Count == 0, string.Join('\n', errors.Take(20)));
        }
        finally
        {
            // Should a request have opened a FIFO for reading after all, release it so the hosts can stop.
            tree.ReleaseFifoReaders();
        }
    }
}

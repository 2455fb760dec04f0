using System.Text;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>
/// Before a server is measured: every workload file (and the 0 B file, /plaintext, and a sample
/// of the small files) is fetched once and compared with the source, byte for byte by SHA-256, with
/// the status and Content-Length. Returns the response header size per path, which the byte
/// accounting of the big-file workloads needs.
/// </summary>
internal static class ResponseVerifier
{
    public static async Task<Dictionary<string, int>> VerifyAsync(RunningServer server, FileSet files, IReadOnlyList<Workload> workloads, int smallSample, int seed, CancellationToken cancel)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        var headerBytes = new Dictionary<string, int>(StringComparer.Ordinal);
        using var probe = await ResponseProbe.ConnectAsync(server.Port, timeout.Token);

        foreach (var file in files.Fixed.Values)
        {
            headerBytes[file.UrlPath] = await CheckFileAsync(probe, file, timeout.Token);
        }

        if (workloads.Any(static w => w.Id == "small"))
        {
            var random = new Random(seed);
            var indices = new SortedSet<int> { 0, FileSet.SmallCount - 1 };
            while (indices.Count < Math.Min(smallSample, FileSet.SmallCount))
            {
                indices.Add(random.Next(FileSet.SmallCount));
            }

            foreach (var index in indices)
            {
                await CheckFileAsync(probe, files.Small[index], timeout.Token);
            }
        }

        if (server.Spec.RunsPlaintext && workloads.Any(static w => w.Plaintext))
        {
            var response = await probe.GetAsync("/plaintext", timeout.Token);
            var body = response.Body is null ? null : Encoding.ASCII.GetString(response.Body);
            if (response.Status != 200 || body != Workload.PlaintextBody)
            {
                throw new HarnessException($"GET /plaintext: status {response.Status}, body '{body}' (expected 200 '{Workload.PlaintextBody}')");
            }

            headerBytes["/plaintext"] = response.HeaderBytes;
        }

        probe.AssertQuiet(TimeSpan.FromMilliseconds(100));
        return headerBytes;
    }

    private static async Task<int> CheckFileAsync(ResponseProbe probe, ServedFile file, CancellationToken cancel)
    {
        var response = await probe.GetAsync(file.UrlPath, cancel);
        if (response.Status != 200)
        {
            throw new HarnessException($"GET {file.UrlPath}: status {response.Status} (expected 200)");
        }

        if (response.Chunked || response.ContentLength != file.Length)
        {
            throw new HarnessException($"GET {file.UrlPath}: Content-Length {response.ContentLength}{(response.Chunked ? " (chunked)" : string.Empty)}, the file has {file.Length} bytes");
        }

        if (!response.Sha256.AsSpan().SequenceEqual(file.Sha256))
        {
            throw new HarnessException($"GET {file.UrlPath}: the body's SHA-256 {Convert.ToHexStringLower(response.Sha256)} differs from the file's {Convert.ToHexStringLower(file.Sha256)}");
        }

        return response.HeaderBytes;
    }
}

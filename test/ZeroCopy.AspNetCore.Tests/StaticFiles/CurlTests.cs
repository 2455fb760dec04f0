using System.Diagnostics;
using System.IO.Compression;

namespace ZeroCopy.AspNetCore.Tests.StaticFiles;

/// <summary>curl as a real client: --compressed against precompressed siblings, and multiple ranges.</summary>
public sealed class CurlTests : IDisposable
{
    private readonly TempDirectory _root = new("zc-curl");

    public void Dispose() => _root.Dispose();

    private static async Task<(int ExitCode, string Output, string Errors)> CurlAsync(params string[] arguments)
    {
        Process process;
        try
        {
            process = Process.Start(new ProcessStartInfo("curl", arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Skip("curl is not installed.");
            throw;
        }

        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
            return (process.ExitCode, await output, await errors);
        }
    }

    [Fact]
    public async Task Curl_compressed_gets_the_gzip_sibling_and_decodes_it()
    {
        var text = string.Concat(Enumerable.Range(0, 2000).Select(i => $"line {i}\n"));
        _root.Write("notes.txt", text);
        using (var output = File.Create(_root.Combine("notes.txt.gz")))
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal))
        {
            gzip.Write(System.Text.Encoding.UTF8.GetBytes(text));
        }

        await using var host = await Hosts.ZeroCopyAsync(HostKind.Kestrel, _root, configureBuilder: b => b.Services.AddZeroCopyStaticFiles(o => o.Precompressed.Encodings = ["gzip"]));
        var headers = _root.Combine("headers.txt");

        var (exit, body, errors) = await CurlAsync("-s", "--compressed", "-D", headers, new Uri(host.BaseAddress, "/notes.txt").ToString());

        Assert.True(exit == 0, errors);
        Assert.Equal(text, body);
        var headerText = await File.ReadAllTextAsync(headers, TestContext.Current.CancellationToken);
        Assert.Contains("Content-Encoding: gzip", headerText, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Vary: Accept-Encoding", headerText, StringComparison.OrdinalIgnoreCase);
        TestContext.Current.TestOutputHelper?.WriteLine(headerText);
    }

    [Fact]
    public async Task Curl_with_several_ranges_gets_a_multipart_body()
    {
        var content = File.ReadAllBytes(_root.WriteRandom("data.bin", 10_000, seed: 5));
        await using var host = await Hosts.ZeroCopyAsync(HostKind.Kestrel, _root, settings: o => o.MinZeroCopyBytes = 0);
        var headers = _root.Combine("headers.txt");
        var bodyPath = _root.Combine("body.bin");

        var (exit, _, errors) = await CurlAsync("-s", "-r", "0-9,100-199", "-D", headers, "-o", bodyPath, new Uri(host.BaseAddress, "/data.bin").ToString());

        Assert.True(exit == 0, errors);
        var headerText = await File.ReadAllTextAsync(headers, TestContext.Current.CancellationToken);
        Assert.StartsWith("HTTP/1.1 206", headerText, StringComparison.Ordinal);
        var boundary = headerText.Split('\n').Single(l => l.StartsWith("Content-Type:", StringComparison.OrdinalIgnoreCase)).Split("boundary=")[1].Trim();
        var body = File.ReadAllBytes(bodyPath);
        var reader = new Microsoft.AspNetCore.WebUtilities.MultipartReader(boundary, new MemoryStream(body));
        // A section's body must be read before the next section is (reading on drains it).
        var first = await reader.ReadNextSectionAsync(TestContext.Current.CancellationToken);
        Assert.Equal("bytes 0-9/10000", first!.Headers!["Content-Range"].ToString());
        using var firstBody = new MemoryStream();
        await first.Body.CopyToAsync(firstBody, TestContext.Current.CancellationToken);
        Assert.Equal(content.AsSpan(0, 10).ToArray(), firstBody.ToArray());
        var second = await reader.ReadNextSectionAsync(TestContext.Current.CancellationToken);
        Assert.Equal("bytes 100-199/10000", second!.Headers!["Content-Range"].ToString());
        using var secondBody = new MemoryStream();
        await second.Body.CopyToAsync(secondBody, TestContext.Current.CancellationToken);
        Assert.Equal(content.AsSpan(100, 100).ToArray(), secondBody.ToArray());
        TestContext.Current.TestOutputHelper?.WriteLine(headerText);
    }
}

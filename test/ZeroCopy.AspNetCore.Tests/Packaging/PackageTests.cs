using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace ZeroCopy.AspNetCore.Tests.Packaging;

/// <summary>
/// Packs and builds with the .NET SDK in child processes: CPU-heavy for a minute, so it runs alone,
/// after the parallel tests, and moves no other test's timings.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PackagingTests
{
    public const string Name = "Packaging";
}

/// <summary>
/// Issue 14: what a user of the package gets. `dotnet pack` of the library, then a fresh web app
/// (the shape of `dotnet new web`: a Web SDK project, Program.cs with the README's two lines,
/// appsettings.json, wwwroot) that references the package from a local folder feed, built and run
/// on 127.0.0.1, serving files from its wwwroot.
/// </summary>
[Collection(PackagingTests.Name)]
public sealed partial class PackageTests
{
    private const string PackageId = "ZeroCopy.AspNetCore";
    private static readonly TimeSpan s_sdkCommandTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(60);

    /// <summary>"file(1,2): warning CS1234: ..." or "... : warning : ..." (MSBuild's canonical format).</summary>
    [GeneratedRegex(@":\s*warning\s*[A-Za-z]*\d*\s*:", RegexOptions.IgnoreCase)]
    private static partial Regex WarningLine();

    /// <summary>The ASP.NET Core host's start-up line (Microsoft.Hosting.Lifetime, Information).</summary>
    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningLine();

    [GeneratedRegex(@"```json\s*\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex JsonBlock();

    [Fact]
    public async Task The_packed_library_serves_wwwroot_in_a_fresh_web_app_that_references_it_from_a_local_feed()
    {
        var ct = TestContext.Current.CancellationToken;
        var dotnet = FindOnPath("dotnet");
        Assert.SkipWhen(dotnet is null, "`dotnet` is not on PATH: the package cannot be packed and consumed here.");
        var output = TestContext.Current.TestOutputHelper;
        var tfm = string.Create(CultureInfo.InvariantCulture, $"net{Environment.Version.Major}.{Environment.Version.Minor}");
        using var work = new TempDirectory("zc-package");
        var feed = Directory.CreateDirectory(work.Combine("feed")).FullName;
        var app = Directory.CreateDirectory(work.Combine("app")).FullName;

        // A version no earlier run produced: the machine's package cache (reused, not isolated)
        // can hold no stale copy of it, so the app is built against this run's package.
        var suffix = string.Create(CultureInfo.InvariantCulture, $"ci{DateTime.UtcNow:yyyyMMddHHmmss}{Guid.NewGuid():N}")[..30];
        string? extractedPackage = null;
        try
        {
            // 1. Pack. Build outputs go under the temporary artifacts path, not the repository's bin/obj.
            var stopwatch = Stopwatch.StartNew();
            var library = Path.Combine(Repository.Root, "src", PackageId, PackageId + ".csproj");
            var pack = await RunAsync(dotnet!, ["pack", library, "-c", "Release", "-o", feed, "--version-suffix", suffix, "--artifacts-path", work.Combine("artifacts"), "--disable-build-servers", "-nologo"], Repository.Root, s_sdkCommandTimeout, ct);
            output?.WriteLine($"dotnet pack: {stopwatch.Elapsed.TotalSeconds:F1} s");
            AssertSucceededWithoutWarnings("dotnet pack", pack);

            var packages = Directory.GetFiles(feed, "*.nupkg");
            Assert.True(packages.Length == 1, $"expected one .nupkg in the feed: {string.Join(", ", Directory.GetFiles(feed))}");
            var (version, readme) = InspectPackage(packages[0], tfm);
            Assert.EndsWith("-" + suffix, version, StringComparison.Ordinal);
            var symbols = Path.ChangeExtension(packages[0], ".snupkg");
            Assert.True(File.Exists(symbols), $"no symbol package {symbols}");
            using (var symbolArchive = ZipFile.OpenRead(symbols))
            {
                Assert.Contains($"lib/{tfm}/{PackageId}.pdb", symbolArchive.Entries.Select(e => e.FullName));
            }

            // 2. The app. The local folder is added to the machine's package sources (none removed:
            // the default source stays for anything else a restore may need); no URL is written.
            work.Write("nuget.config", $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="zerocopy-local" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            work.Write("app/PackagedApp.csproj", $"""
                <Project Sdk="Microsoft.NET.Sdk.Web">
                  <PropertyGroup>
                    <TargetFramework>{tfm}</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ImplicitUsings>enable</ImplicitUsings>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="{PackageId}" Version="[{version}]" />
                  </ItemGroup>
                </Project>
                """);
            work.Write("app/Program.cs", """
                var builder = WebApplication.CreateBuilder(args);
                builder.Services.AddZeroCopyStaticFiles();

                var app = builder.Build();
                app.UseZeroCopyStaticFiles();
                app.Run();
                """);

            // The package README's appsettings example, as a user would paste it.
            var settings = JsonBlock().Match(readme);
            Assert.True(settings.Success, "the package README has no ```json block (the appsettings example)");
            work.Write("app/appsettings.json", settings.Groups[1].Value);
            using var settingsJson = JsonDocument.Parse(settings.Groups[1].Value);
            var cacheControl = settingsJson.RootElement.GetProperty("ZeroCopyStaticFiles").GetProperty("CacheControl").GetString();

            // Below MinZeroCopyBytes (copied with the headers) and above it (sendfile on Linux).
            var small = new byte[1000];
            new Random(14).NextBytes(small);
            small = [.. small.Select(b => (byte)('a' + (b % 26)))];
            var large = new byte[256 * 1024];
            new Random(1414).NextBytes(large);
            work.Write("app/wwwroot/small.txt", small);
            work.Write("app/wwwroot/large.bin", large);

            // 3. Build. Directory.Build.* and Directory.Packages.props above the temporary folder
            // (other tools write to /tmp too) are not the app's.
            stopwatch.Restart();
            var build = await RunAsync(dotnet!, ["build", Path.Combine(app, "PackagedApp.csproj"), "--disable-build-servers", "-nologo", "-p:ImportDirectoryBuildProps=false", "-p:ImportDirectoryBuildTargets=false", "-p:ImportDirectoryPackagesProps=false"], app, s_sdkCommandTimeout, ct);
            output?.WriteLine($"dotnet build of the app: {stopwatch.Elapsed.TotalSeconds:F1} s");
            extractedPackage = ExtractedPackageFolder(app, version);
            AssertSucceededWithoutWarnings("dotnet build (app)", build);
            Assert.True(extractedPackage is not null && Directory.Exists(extractedPackage), $"the app's restore did not resolve {PackageId} {version} from the feed: {extractedPackage}");

            // 4. Run on 127.0.0.1, from the app's folder (its content root: appsettings.json, wwwroot).
            stopwatch.Restart();
            var dll = Path.Combine(app, "bin", "Debug", tfm, "PackagedApp.dll");
            Assert.True(File.Exists(Path.Combine(app, "bin", "Debug", tfm, PackageId + ".dll")), $"the build output has no {PackageId}.dll");
            await using var server = await AppProcess.StartAsync(dotnet!, dll, app, ct);
            output?.WriteLine($"app start: {stopwatch.Elapsed.TotalSeconds:F1} s, {server.Address}");
            try
            {
                using var client = new HttpClient { BaseAddress = new Uri(server.Address), Timeout = TimeSpan.FromSeconds(30) };
                foreach (var (url, bytes, type) in new[] { ("/small.txt", small, "text/plain"), ("/large.bin", large, "application/octet-stream") })
                {
                    // Twice: the second request may be served by the hot-file cache.
                    for (var i = 0; i < 2; i++)
                    {
                        using var response = await client.GetAsync(url, ct);
                        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                        Assert.Equal(type, response.Content.Headers.ContentType?.MediaType);
                        Assert.Equal(cacheControl, response.Headers.CacheControl?.ToString());
                        var body = await response.Content.ReadAsByteArrayAsync(ct);
                        Assert.True(body.AsSpan().SequenceEqual(bytes), $"GET {url}: {body.Length} bytes, sha256 {TempDirectory.Sha256(body)}; expected {bytes.Length}, sha256 {TempDirectory.Sha256(bytes)}");
                    }
                }

                using var missing = await client.GetAsync("/missing.txt", ct);
                Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            }
            catch (Exception ex)
            {
                throw new Xunit.Sdk.XunitException("App output:\n" + server.Output + "\n" + ex);
            }
        }
        finally
        {
            // The unique version's copy in the machine's package cache: nothing will use it again.
            if (extractedPackage is not null && Directory.Exists(extractedPackage))
            {
                Directory.Delete(extractedPackage, recursive: true);
            }
        }
    }

    /// <summary>
    /// The package holds the library for <paramref name="tfm"/>, its XML documentation and its
    /// README, and names the README and the repository. Returns the version and the README text.
    /// </summary>
    private static (string Version, string Readme) InspectPackage(string path, string tfm)
    {
        using var archive = ZipFile.OpenRead(path);
        var entries = archive.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);
        Assert.Contains($"lib/{tfm}/{PackageId}.dll", entries);
        Assert.Contains($"lib/{tfm}/{PackageId}.xml", entries);
        Assert.Contains("README.md", entries);
        Assert.DoesNotContain(entries, e => e.EndsWith(".pdb", StringComparison.Ordinal));

        XDocument nuspec;
        using (var stream = archive.GetEntry(PackageId + ".nuspec")!.Open())
        {
            nuspec = XDocument.Load(stream);
        }

        var metadata = nuspec.Root!.Elements().Single(e => e.Name.LocalName == "metadata");
        string? Element(string name) => metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value;
        Assert.Equal(PackageId, Element("id"));
        Assert.Equal("README.md", Element("readme"));
        Assert.False(string.IsNullOrWhiteSpace(Element("description")));
        Assert.False(string.IsNullOrWhiteSpace(Element("tags")));
        var repository = metadata.Elements().Single(e => e.Name.LocalName == "repository");
        Assert.StartsWith("https://", repository.Attribute("url")?.Value, StringComparison.Ordinal);

        // Nothing a consumer restores besides the shared framework: analyzers stay private.
        Assert.DoesNotContain(metadata.Descendants(), e => e.Name.LocalName == "dependency");

        using var reader = new StreamReader(archive.GetEntry("README.md")!.Open());
        var readme = reader.ReadToEnd();
        Assert.Contains($"dotnet add package {PackageId}", readme, StringComparison.Ordinal);
        Assert.Contains("builder.Services.AddZeroCopyStaticFiles();", readme, StringComparison.Ordinal);
        Assert.Contains("app.UseZeroCopyStaticFiles();", readme, StringComparison.Ordinal);
        return (Element("version")!, readme);
    }

    /// <summary>
    /// Where the app's restore extracted the package (global packages folder / id / version), read
    /// from its project.assets.json; null when the restore did not get that far.
    /// </summary>
    private static string? ExtractedPackageFolder(string app, string version)
    {
        var assets = Path.Combine(app, "obj", "project.assets.json");
        if (!File.Exists(assets))
        {
            return null;
        }

        using var json = JsonDocument.Parse(File.ReadAllText(assets));
        if (!json.RootElement.GetProperty("libraries").TryGetProperty($"{PackageId}/{version}", out var library))
        {
            return null;
        }

        var folder = json.RootElement.GetProperty("packageFolders").EnumerateObject().First().Name;
        return Path.Combine(folder, library.GetProperty("path").GetString()!);
    }

    private static void AssertSucceededWithoutWarnings(string what, (int ExitCode, string Output) result)
    {
        Assert.True(result.ExitCode == 0, $"{what} failed (exit {result.ExitCode}):\n{result.Output}");
        var warnings = result.Output.Split('\n').Where(l => WarningLine().IsMatch(l)).ToList();
        Assert.True(warnings.Count == 0, $"{what} printed warnings:\n{string.Join('\n', warnings)}");
    }

    private static string? FindOnPath(string name)
        => (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, OperatingSystem.IsWindows() ? name + ".exe" : name))
            .FirstOrDefault(File.Exists);

    /// <summary>
    /// A child process of the SDK with this test host's MSBuild variables removed (they point into
    /// the `dotnet test` that started us) and no build servers left behind holding our pipes.
    /// </summary>
    private static ProcessStartInfo StartInfo(string fileName, IEnumerable<string> arguments, string workingDirectory)
    {
        var info = new ProcessStartInfo(fileName, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var name in info.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            info.Environment.Remove(name);
        }

        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["DOTNET_CLI_UI_LANGUAGE"] = "en";
        info.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        return info;
    }

    /// <summary>Runs a command to its end (bounded by <paramref name="timeout"/>), stdout and stderr interleaved.</summary>
    private static async Task<(int ExitCode, string Output)> RunAsync(string fileName, string[] arguments, string workingDirectory, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var lines = new ConcurrentQueue<string>();
        using var process = new Process { StartInfo = StartInfo(fileName, arguments, workingDirectory) };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lines.Enqueue(e.Data); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lines.Enqueue(e.Data); } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} did not end within {timeout.TotalSeconds} s:\n{string.Join('\n', lines)}");
        }

        return (process.ExitCode, string.Join('\n', lines));
    }

    /// <summary>The built app, started with --urls http://127.0.0.1:0; killed on dispose.</summary>
    private sealed class AppProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly ConcurrentQueue<string> _lines;

        private AppProcess(Process process, ConcurrentQueue<string> lines)
        {
            _process = process;
            _lines = lines;
        }

        public string Address { get; private set; } = string.Empty;

        public string Output => string.Join('\n', _lines);

        public static async Task<AppProcess> StartAsync(string dotnet, string dll, string contentRoot, CancellationToken cancellationToken)
        {
            var lines = new ConcurrentQueue<string>();
            var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            var process = new Process { StartInfo = StartInfo(dotnet, [dll, "--urls", "http://127.0.0.1:0"], contentRoot), EnableRaisingEvents = true };
            process.StartInfo.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    return;
                }

                lines.Enqueue(e.Data);
                if (ListeningLine().Match(e.Data) is { Success: true } match)
                {
                    listening.TrySetResult(match.Groups[1].Value);
                }
            };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lines.Enqueue(e.Data); } };
            process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException("the app exited before it listened"));
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var app = new AppProcess(process, lines);
            try
            {
                app.Address = await listening.Task.WaitAsync(s_startTimeout, cancellationToken);
                return app;
            }
            catch (Exception ex)
            {
                await app.DisposeAsync();
                cancellationToken.ThrowIfCancellationRequested();
                throw new Xunit.Sdk.XunitException($"The app reported no listening address ({ex.Message}; limit {s_startTimeout.TotalSeconds} s). Output:\n{app.Output}");
            }
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                if (!_process.HasExited)
                {
                    _process.Kill(entireProcessTree: true);
                }

                await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
            }
            finally
            {
                _process.Dispose();
            }
        }
    }
}

namespace ZeroCopy.AspNetCore.Server;

/// <summary>The bundled demo root ships small files; the large download is generated on first start.</summary>
internal static class DemoRoot
{
    private const string DemoFolder = "demo-root";
    private const string SampleName = "sample-4mib.bin";
    private const int SampleLength = 4 * 1024 * 1024;

    public static void EnsureGeneratedFiles(IConfiguration configuration, IWebHostEnvironment environment)
    {
        var configured = configuration["ZeroCopyStaticFiles:Root"];
        var root = Path.GetFullPath(Path.Combine(environment.ContentRootPath, configured ?? DemoFolder));
        var demo = Path.GetFullPath(Path.Combine(environment.ContentRootPath, DemoFolder));
        if (!string.Equals(root, demo, StringComparison.Ordinal))
        {
            return;
        }

        var target = Path.Combine(demo, "downloads", SampleName);
        if (File.Exists(target) && new FileInfo(target).Length == SampleLength)
        {
            return;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        var temporary = target + ".tmp";
        var bytes = new byte[SampleLength];
        // Deterministic content, so a download can be checked against a known SHA-256.
        new Random(20261124).NextBytes(bytes);
        File.WriteAllBytes(temporary, bytes);
        File.Move(temporary, target, overwrite: true);
    }
}

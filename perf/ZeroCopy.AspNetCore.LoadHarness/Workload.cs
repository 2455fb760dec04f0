namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>How load.lua checks the responses of a workload (its MODE argument).</summary>
internal enum CheckMode
{
    /// <summary>Every response: status 200 and the exact body length, in Lua.</summary>
    Fixed,

    /// <summary>Bodies too big to copy into Lua: total bytes against requests x response size.</summary>
    Bytes,

    /// <summary>Random small files, each checked against the length written in its first line.</summary>
    Small,
}

/// <summary>How the client reaches the server.</summary>
internal enum Transport
{
    /// <summary>HTTP/1.1 over TCP, wrk.</summary>
    Plain,

    /// <summary>HTTP/1.1 over TLS (the server's HTTPS port), wrk with an https URL.</summary>
    Tls,

    /// <summary>HTTP/2 over TLS (ALPN h2), h2load, one stream at a time per connection.</summary>
    Http2,
}

/// <summary>One workload of the table.</summary>
/// <param name="Id">Command-line name.</param>
/// <param name="Title">Name in the table.</param>
/// <param name="UrlPath">What wrk asks for (ignored for <see cref="CheckMode.Small"/>).</param>
/// <param name="Check">How responses are checked.</param>
/// <param name="BodyLength">Body length of every response (0 for the small files, which vary).</param>
/// <param name="Big">Uses --big-duration.</param>
/// <param name="Plaintext">The transport workload (not a file); only run on servers that have it.</param>
/// <param name="Transport">Plain HTTP/1.1, HTTPS/1.1 or HTTP/2 over TLS; the TLS ones run on the servers that have <see cref="ServerSpec.RunsTls"/>.</param>
/// <param name="WarmMeasured">
/// The many-small-files cell measured once the files are cached: its warm-up requests the measured
/// mount itself, for <see cref="CachedWarmupSeconds"/> (about six requests per file), instead of the
/// second mount for one second.
/// </param>
internal sealed record Workload(string Id, string Title, string UrlPath, CheckMode Check, long BodyLength, bool Big = false, bool Plaintext = false, Transport Transport = Transport.Plain, bool WarmMeasured = false)
{
    public const string PlaintextBody = "Hello, World!";

    /// <summary>Warm-up of a <see cref="WarmMeasured"/> cell, in seconds.</summary>
    public const int CachedWarmupSeconds = 4;

    public static readonly IReadOnlyList<Workload> All =
    [
        new("4k", "4 KiB hot", "/hot/4k.bin", CheckMode.Fixed, 4 * 1024),
        new("64k", "64 KiB hot", "/hot/64k.bin", CheckMode.Bytes, 64 * 1024),
        new("1m", "1 MiB", "/big/1m.bin", CheckMode.Bytes, 1024 * 1024),
        new("64m", "64 MiB", "/big/64m.bin", CheckMode.Bytes, 64 * 1024 * 1024, Big: true),
        new("small", "10k small files (2-16 KiB, random)", "/", CheckMode.Small, 0),
        new("small-cached", "10k small files, cached (2-16 KiB, random)", "/", CheckMode.Small, 0, WarmMeasured: true),
        new("plaintext", "plaintext (transport)", "/plaintext", CheckMode.Fixed, PlaintextBody.Length, Plaintext: true),
        new("4k-tls", "4 KiB hot, HTTPS/1.1", "/hot/4k.bin", CheckMode.Fixed, 4 * 1024, Transport: Transport.Tls),
        new("64m-tls", "64 MiB, HTTPS/1.1", "/big/64m.bin", CheckMode.Bytes, 64 * 1024 * 1024, Big: true, Transport: Transport.Tls),
        new("4k-h2", "4 KiB hot, HTTP/2 (TLS)", "/hot/4k.bin", CheckMode.Bytes, 4 * 1024, Transport: Transport.Http2),
    ];

    /// <summary>The key of this workload's response header size in the verifier's table (TLS responses are measured on their own port).</summary>
    public string HeaderKey => Transport == Transport.Plain ? UrlPath : "https:" + UrlPath;
}

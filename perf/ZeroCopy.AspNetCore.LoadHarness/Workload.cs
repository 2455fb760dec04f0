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

/// <summary>One workload of the table.</summary>
/// <param name="Id">Command-line name.</param>
/// <param name="Title">Name in the table.</param>
/// <param name="UrlPath">What wrk asks for (ignored for <see cref="CheckMode.Small"/>).</param>
/// <param name="Check">How responses are checked.</param>
/// <param name="BodyLength">Body length of every response (0 for the small files, which vary).</param>
/// <param name="Big">Uses --big-duration.</param>
/// <param name="Plaintext">The transport workload (not a file); only run on servers that have it.</param>
internal sealed record Workload(string Id, string Title, string UrlPath, CheckMode Check, long BodyLength, bool Big = false, bool Plaintext = false)
{
    public const string PlaintextBody = "Hello, World!";

    public static readonly IReadOnlyList<Workload> All =
    [
        new("4k", "4 KiB hot", "/hot/4k.bin", CheckMode.Fixed, 4 * 1024),
        new("64k", "64 KiB hot", "/hot/64k.bin", CheckMode.Bytes, 64 * 1024),
        new("1m", "1 MiB", "/big/1m.bin", CheckMode.Bytes, 1024 * 1024),
        new("64m", "64 MiB", "/big/64m.bin", CheckMode.Bytes, 64 * 1024 * 1024, Big: true),
        new("small", "10k small files (2-16 KiB, random)", "/", CheckMode.Small, 0),
        new("plaintext", "plaintext (transport)", "/plaintext", CheckMode.Fixed, PlaintextBody.Length, Plaintext: true),
    ];
}

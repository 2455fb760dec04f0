using System.Globalization;
using System.Runtime.Versioning;
using System.Text;

namespace ZeroCopy.AspNetCore.Tests.Adversarial;

/// <summary>One generated request target, with the family it comes from.</summary>
public sealed record PathCase(string Family, byte[] Target, bool AlsoHead)
{
    public string Printable => RawRequest.Describe(Target);
}

/// <summary>
/// The path corpus of issue 6: request targets aimed at the canaries outside the root and at the
/// special entries of <see cref="AdversarialTree"/>. Deterministic (fixed seeds, fixed order).
/// </summary>
[SupportedOSPlatform("linux")]
public static class PathCorpus
{
    /// <summary>Ways to write the ".." segment.</summary>
    public static readonly string[] DotDot =
    [
        "..", "%2e%2e", "%2E%2E", "%2e%2E", "%2E%2e", ".%2e", "%2e.", ".%2E", "%2E.",
        "%252e%252e", "%252E%252E", "%25%32%65%25%32%65", "%c0%ae%c0%ae", "%C0%AE%C0%AE", "%e0%80%ae%e0%80%ae",
        "%f0%80%80%ae%f0%80%80%ae", "%c0%2e%c0%2e", "%u002e%u002e", "%ef%bc%8e%ef%bc%8e", "\uFF0E\uFF0E",
        "%e2%80%a5", "...", "..%00", "..%20", "..;", "..%3b", "..%09", "%2e%2e%00",
    ];

    /// <summary>Ways to write the "/" between segments.</summary>
    public static readonly string[] Separators =
    [
        "/", "\\", "%5c", "%5C", "%2f", "%2F", "%252f", "%c0%af", "%e0%80%af", "%ef%bc%8f", "//", "/./", ";/",
    ];

    /// <summary>Control and special bytes tried percent-encoded and raw.</summary>
    private static readonly int[] s_controls = [.. Enumerable.Range(0, 0x20), 0x7f];

    public static List<PathCase> Build(AdversarialTree tree)
    {
        var cases = new List<PathCase>();
        var seen = new HashSet<string>(StringComparer.Ordinal);

        void Add(string family, byte[] target, bool alsoHead = false)
        {
            if (seen.Add(Convert.ToBase64String(target)))
            {
                cases.Add(new PathCase(family, target, alsoHead));
            }
        }

        void AddText(string family, string target, bool alsoHead = false) => Add(family, Encoding.UTF8.GetBytes(target), alsoHead);

        // 1. Traversal: every ".." form with every separator, aimed at each canary.
        var baseRelative = tree.Base.TrimStart('/');
        foreach (var dot in DotDot)
        {
            foreach (var sep in Separators)
            {
                AddText("traversal", "/" + Repeat(dot + sep, 1) + "canary.txt");
                AddText("traversal", "/" + Repeat(dot + sep, 1) + "outside" + sep + "canary.txt");
                AddText("traversal", "/sub/" + Repeat(dot + sep, 2) + "root-evil" + sep + "canary.txt");
                AddText("traversal", "/sub/deeper/" + Repeat(dot + sep, 3) + "outside" + sep + "canary-big.bin");
                AddText("traversal", "/" + Repeat(dot + sep, 12) + baseRelative.Replace("/", sep, StringComparison.Ordinal) + sep + "canary.txt");
            }
        }

        // 2. Mixed forms within one target (seeded).
        var random = new Random(6);
        for (var i = 0; i < 200; i++)
        {
            var depth = random.Next(1, 6);
            var sb = new StringBuilder(random.Next(3) switch { 0 => "/", 1 => "/sub/", _ => "/dir-in/" });
            for (var d = 0; d < depth; d++)
            {
                sb.Append(DotDot[random.Next(DotDot.Length)]).Append(Separators[random.Next(Separators.Length)]);
            }

            sb.Append(random.Next(3) switch { 0 => "canary.txt", 1 => "outside/canary.txt", _ => "root-evil/canary.txt" });
            AddText("traversal-mixed", sb.ToString());
        }

        // 3. Every entry of the tree, plain and decorated.
        foreach (var name in AdversarialTree.EntryNames)
        {
            foreach (var variant in Decorations(name))
            {
                AddText("entry", variant, alsoHead: true);
            }
        }

        // 4. Unicode: normalisation forms, fullwidth and look-alike dots, invisible characters.
        foreach (var target in new[]
        {
            "/caf%C3%A9.txt", "/cafe%CC%81.txt", "/caf\u00E9.txt", "/cafe\u0301.txt", "/caf%C3%89.txt", "/CAF%C3%89.TXT",
            "/cafe%CC%81-nfd.txt", "/caf%C3%A9-nfd.txt", "/cafe\u0301-nfd.txt", "/caf\u00E9-nfd.txt",
            "/%EF%BD%81.txt", "/\uFF41.txt", "/a%EF%BC%8Etxt", "/a\uFF0Etxt", "/a.txt%E2%80%8B", "/a.txt%C2%A0", "/%E2%80%AEtxt.a",
            "/%EF%BC%8E%EF%BC%8E/canary.txt", "/\uFF0E\uFF0E/canary.txt", "/%E2%80%A4%E2%80%A4/canary.txt", "/%E2%80%A5/canary.txt",
            "/.%CC%87./canary.txt", "/%EF%B9%92%EF%B9%92/canary.txt", "/%E3%80%82%E3%80%82/canary.txt", "/a.t%C4%B1t", "/A.TXT",
            "/a%CC%B8.txt", "/%F0%9F%98%80.txt", "/%ED%A0%80.txt", "/%F4%90%80%80.txt", "/%FE%FF.txt", "/%C0%80.txt",
            "/%C0%AE%C0%AE%C0%AF%C0%AE%C0%AE%C0%AFcanary.txt", "/%E0%80%AE%E0%80%AE%E0%80%AFcanary.txt",
        })
        {
            AddText("unicode", target, alsoHead: true);
        }

        // 5. Control characters and NUL: percent-encoded at several places, and raw bytes.
        foreach (var c in s_controls)
        {
            var hex = c.ToString("x2", CultureInfo.InvariantCulture);
            AddText("control-encoded", $"/a.txt%{hex}");
            AddText("control-encoded", $"/a%{hex}.txt");
            AddText("control-encoded", $"/%{hex}/a.txt");
            AddText("control-encoded", $"/..%{hex}/canary.txt");
            AddText("control-encoded", $"/link-out-rel.txt%{hex}");
        }

        foreach (var b in s_controls.Append(0x80).Append(0xc0).Append(0xfe).Append(0xff).Append(0x20))
        {
            Add("control-raw", [.. "/a.txt"u8, (byte)b]);
            Add("control-raw", [.. "/a"u8, (byte)b, .. ".txt"u8]);
            Add("control-raw", [.. "/.."u8, (byte)b, .. "/canary.txt"u8]);
        }

        // 6. Malformed percent-encoding.
        foreach (var target in new[]
        {
            "/%", "/%%", "/%zz.txt", "/%2", "/a.txt%", "/a.txt%2", "/%e9.txt", "/%c3.txt", "/%c3%28.txt", "/%%32%65%%32%65/canary.txt",
            "/%2e%2e%2fcanary.txt", "/%2e%2e%5ccanary.txt", "/%25%2e%2e/canary.txt", "/%u2215canary.txt", "/%C0%AF", "/%%2e%2e",
        })
        {
            AddText("bad-percent", target);
        }

        // 7. Very long paths and segments (Kestrel's request line limit is 8 KiB).
        var overhead = "GET ".Length + " HTTP/1.1\r\n".Length;
        AddText("long", "/" + AdversarialTree.LongName255, alsoHead: true);
        AddText("long", "/" + new string('x', 252) + ".txt");
        AddText("long", "/" + new string('y', 256));
        AddText("long", "/" + new string('z', 1000) + ".txt");
        AddText("long", "/" + new string('w', 4096) + ".txt");
        AddText("long", "/" + string.Concat(Enumerable.Repeat(new string('s', 250) + "/", 17)) + "a.txt");
        AddText("long", "/" + string.Concat(Enumerable.Repeat("d", 1)) + string.Concat(Enumerable.Range(2, 19).Select(i => "/d" + i)) + "/d20/deep.txt", alsoHead: true);
        AddText("long", new string('/', 4000) + "a.txt");
        AddText("long", new string('/', 9000) + "a.txt");
        AddText("long", "/sub" + string.Concat(Enumerable.Repeat("/.", 3000)) + "/nested.txt");
        AddText("long", "/sub" + string.Concat(Enumerable.Repeat("/nested.txt/..", 500)) + "/nested.txt");
        AddText("long", "/" + string.Concat(Enumerable.Repeat("%2e%2e/", 1000)) + "canary.txt");
        AddText("long", "/" + string.Concat(Enumerable.Repeat("../", 2000)) + baseRelative + "/canary.txt");
        foreach (var length in new[] { 4096, 8000, 8192 - overhead - 1, 8192 - overhead, 8192 - overhead + 1, 8192, 16 * 1024, 64 * 1024 })
        {
            AddText("long", "/a.txt?" + new string('q', length - "/a.txt?".Length));
            AddText("long", "/" + new string('p', length - 1));
        }

        // 8. Request-target forms other than origin-form.
        foreach (var target in new[]
        {
            "http://127.0.0.1/a.txt", "http://127.0.0.1/../canary.txt", "http://127.0.0.1/%2e%2e/canary.txt", "HTTP://127.0.0.1/a.txt",
            "http://evil.example/a.txt", "http://127.0.0.1:1/a.txt", "//127.0.0.1/a.txt", "a.txt", "../canary.txt", "*", "127.0.0.1:80",
            "/a.txt?../../canary.txt", "/a.txt#../../canary.txt", "/a.txt%3f", "/a.txt%23", "/?/a.txt", "/#/../canary.txt",
        })
        {
            AddText("target-form", target);
        }

        return cases;
    }

    /// <summary>A name as is and in the shapes that tricked servers before.</summary>
    private static IEnumerable<string> Decorations(string name)
    {
        var encodedAll = string.Concat(Encoding.UTF8.GetBytes(name).Select(b => b == (byte)'/' ? "/" : "%" + b.ToString("X2", CultureInfo.InvariantCulture)));
        var firstEncoded = "%" + ((int)name[0]).ToString("x2", CultureInfo.InvariantCulture) + name[1..];
        return
        [
            "/" + name,
            "/" + name + "/",
            "/" + name + ".",
            "/" + name + "%2e",
            "/" + name + "%20",
            "/" + name + " ",
            "/" + name + "%00",
            "/" + name + "%0a",
            "/" + name + ";x",
            "/" + name + "%3bx",
            "/" + name + "?x=1",
            "/" + name + "::$DATA",
            "/" + name + "%ef%bc%8e",
            "/./" + name,
            "/sub/../" + name,
            "/sub/%2e%2e/" + name,
            "/sub%2f..%2f" + name,
            "//" + name,
            "/\\" + name,
            "/%5c" + name,
            "/" + encodedAll,
            "/" + firstEncoded,
            "/" + name.ToUpperInvariant(),
            "http://127.0.0.1/" + name,
        ];
    }

    private static string Repeat(string value, int count) => string.Concat(Enumerable.Repeat(value, count));
}

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>
/// The configured Cache-Control rules, matched in order against a file's path below the request
/// path; the first match wins, else the global value.
/// </summary>
internal sealed class CacheControlRules
{
    private readonly (string Pattern, bool NameOnly, bool Extension, string Value)[] _rules;
    private readonly string? _fallback;

    public CacheControlRules(IEnumerable<CacheControlRule> rules, string? fallback)
    {
        _rules = [.. rules.Select(static r =>
        {
            var match = r.Match.Trim();
            var extension = match.StartsWith('.') && match.IndexOfAny(['*', '?', '/']) < 0;
            return (match, NameOnly: !extension && !match.Contains('/'), Extension: extension, r.CacheControl);
        })];
        _fallback = fallback;
    }

    public bool IsEmpty => _rules.Length == 0 && _fallback is null;

    /// <summary>The Cache-Control for <paramref name="path"/> ("/css/site.css"), or null.</summary>
    public string? For(string path)
    {
        foreach (var (pattern, nameOnly, extension, value) in _rules)
        {
            if (extension)
            {
                if (path.EndsWith(pattern, StringComparison.OrdinalIgnoreCase))
                {
                    return value;
                }

                continue;
            }

            var subject = nameOnly ? path.AsSpan(path.LastIndexOf('/') + 1) : path.AsSpan();
            var glob = pattern.AsSpan();
            if (!nameOnly && glob.Length > 0 && glob[0] != '/' && subject.Length > 0 && subject[0] == '/')
            {
                // "assets/**" is relative to the request path: compare without the leading slash.
                subject = subject[1..];
            }

            if (Glob.IsMatch(glob, subject))
            {
                return value;
            }
        }

        return _fallback;
    }
}

/// <summary>A small glob matcher: <c>*</c> within a segment, <c>**</c> across segments, <c>?</c> one character.</summary>
internal static class Glob
{
    public static bool IsMatch(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        while (!pattern.IsEmpty)
        {
            var c = pattern[0];
            if (c == '*')
            {
                var crossesSegments = pattern.Length > 1 && pattern[1] == '*';
                var rest = pattern[(crossesSegments ? 2 : 1)..];
                if (crossesSegments && rest.Length > 0 && rest[0] == '/')
                {
                    // "**/x" also matches "x" at this level.
                    if (IsMatch(rest[1..], text))
                    {
                        return true;
                    }
                }

                for (var i = 0; i <= text.Length; i++)
                {
                    if (IsMatch(rest, text[i..]))
                    {
                        return true;
                    }

                    if (i < text.Length && text[i] == '/' && !crossesSegments)
                    {
                        return false;
                    }
                }

                return false;
            }

            if (text.IsEmpty || (c != '?' && c != text[0]) || (c == '?' && text[0] == '/'))
            {
                return false;
            }

            pattern = pattern[1..];
            text = text[1..];
        }

        return text.IsEmpty;
    }
}

using System.Collections.Frozen;
using Microsoft.AspNetCore.StaticFiles;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>
/// Content type lookup: the configured <c>ContentTypes</c> map first, then the
/// <see cref="IContentTypeProvider"/> of the options (stock <see cref="FileExtensionContentTypeProvider"/>
/// when none is given).
/// </summary>
internal sealed class ContentTypeResolver
{
    private readonly FrozenDictionary<string, string>? _extra;
    private readonly IContentTypeProvider _provider;

    public ContentTypeResolver(IContentTypeProvider provider, IDictionary<string, string> extra)
    {
        _provider = provider;
        if (extra.Count > 0)
        {
            _extra = extra.ToFrozenDictionary(
                static pair => pair.Key.StartsWith('.') ? pair.Key : "." + pair.Key,
                static pair => pair.Value,
                StringComparer.OrdinalIgnoreCase);
        }
    }

    public bool TryGetContentType(string subPath, out string? contentType)
    {
        if (_extra is not null && Extension(subPath) is { Length: > 0 } extension
            && _extra.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(extension, out var mapped))
        {
            contentType = mapped;
            return true;
        }

        return _provider.TryGetContentType(subPath, out contentType);
    }

    /// <summary>The extension of the last segment, with its dot; empty when there is none.</summary>
    internal static ReadOnlySpan<char> Extension(string path)
    {
        var dot = path.LastIndexOf('.');
        if (dot < 0)
        {
            return default;
        }

        var separator = path.AsSpan().LastIndexOfAny('/', '\\');
        return dot > separator ? path.AsSpan(dot) : default;
    }
}

using System.Diagnostics.CodeAnalysis;

namespace ZeroCopy.AspNetCore;

/// <summary>One <c>Cache-Control</c> rule of <see cref="ZeroCopyStaticFilesOptions.CacheControlRules"/>.</summary>
public sealed class CacheControlRule
{
    /// <summary>
    /// Which files the rule applies to: an extension (<c>.js</c>) or a glob over the path below the
    /// request path (<c>/assets/**</c>, <c>*.*.js</c>, <c>**/*.woff2</c>): <c>*</c> matches within one
    /// segment, <c>**</c> across segments, <c>?</c> one character. A glob without <c>/</c> is matched
    /// against the file name only. Case-sensitive, as Linux paths are.
    /// </summary>
    /// <remarks>Defaults to empty; set it in every rule.</remarks>
    public string Match { get; set; } = string.Empty;

    /// <summary>The <c>Cache-Control</c> value, for example <c>public, max-age=31536000, immutable</c>.</summary>
    /// <remarks>Defaults to empty; set it in every rule.</remarks>
    public string CacheControl { get; set; } = string.Empty;
}

/// <summary>How a file's ETag is computed.</summary>
public enum ETagMode
{
    /// <summary>As stock <c>UseStaticFiles</c>: from the file's length and modification time.</summary>
    Stock = 0,

    /// <summary>
    /// The SHA-256 of the content, base64 in quotes (the format of <c>MapStaticAssets</c>), computed
    /// once per file version: every machine serving the same bytes sends the same ETag, so a load
    /// balancer may switch servers without breaking conditional requests.
    /// </summary>
    ContentHash = 1,
}

/// <summary>ETag settings (section <c>ZeroCopyStaticFiles:ETag</c>).</summary>
public sealed class ZeroCopyETagOptions
{
    /// <summary>How ETags are computed.</summary>
    /// <remarks>Defaults to <see cref="ETagMode.Stock"/>.</remarks>
    public ETagMode Mode { get; set; } = ETagMode.Stock;

    /// <summary>
    /// A <c>MapStaticAssets</c> build manifest (<c>*.staticwebassets.endpoints.json</c>), absolute or
    /// relative to the content root, whose SHA-256 ETags are reused (in <see cref="ETagMode.ContentHash"/>
    /// mode) for files whose length and Last-Modified still match the manifest, instead of hashing them.
    /// </summary>
    /// <remarks>Defaults to <see langword="null"/>: none.</remarks>
    public string? Manifest { get; set; }
}

/// <summary>Precompressed siblings (section <c>ZeroCopyStaticFiles:Precompressed</c>).</summary>
public sealed class ZeroCopyPrecompressedOptions
{
    /// <summary>
    /// Serve <c>app.js.br</c> / <c>app.js.gz</c> / <c>app.js.zst</c> for <c>app.js</c> when the client
    /// accepts that encoding, with <c>Content-Encoding</c>, <c>Vary: Accept-Encoding</c>, the original's
    /// content type and an ETag of its own.
    /// </summary>
    /// <remarks>Defaults to <see langword="true"/> (it only changes responses for files that have such siblings).</remarks>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Encodings to look for, in order of preference when the client accepts several equally:
    /// <c>br</c> (<c>.br</c>), <c>gzip</c> (<c>.gz</c>), <c>zstd</c> (<c>.zst</c>).
    /// </summary>
    /// <remarks>Defaults to <c>["br", "gzip"]</c>.</remarks>
    [SuppressMessage("Usage", "CA2227:Collection properties should be read only", Justification = "Bound from configuration and replaced wholesale in code.")]
    public IList<string> Encodings { get; set; } = ["br", "gzip"];
}

/// <summary>Default documents (section <c>ZeroCopyStaticFiles:DefaultDocuments</c>).</summary>
public sealed class ZeroCopyDefaultDocumentsOptions
{
    /// <summary>
    /// Serve a directory's default document for a request to the directory (<c>/docs/</c>), and
    /// redirect <c>/docs</c> to <c>/docs/</c> when <c>StaticFileOptions.RedirectToAppendTrailingSlash</c>
    /// is on, as <c>UseDefaultFiles</c> does — without rewriting the request path.
    /// </summary>
    /// <remarks>Defaults to <see langword="false"/> (stock <c>UseStaticFiles</c> does not serve directories).</remarks>
    public bool Enabled { get; set; }

    /// <summary>File names tried in order.</summary>
    /// <remarks>Defaults to those of <c>UseDefaultFiles</c>: default.htm, default.html, index.htm, index.html.</remarks>
    [SuppressMessage("Usage", "CA2227:Collection properties should be read only", Justification = "Bound from configuration and replaced wholesale in code.")]
    public IList<string> FileNames { get; set; } = ["default.htm", "default.html", "index.htm", "index.html"];
}

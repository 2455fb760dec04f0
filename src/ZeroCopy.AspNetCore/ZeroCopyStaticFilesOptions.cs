using System.Diagnostics.CodeAnalysis;

namespace ZeroCopy.AspNetCore;

/// <summary>
/// Settings of ZeroCopy.AspNetCore, bound from the configuration section
/// <c>ZeroCopyStaticFiles</c> (see <see cref="SectionName"/>) with reload, then changed by the
/// <c>Action</c> given to <c>AddZeroCopyStaticFiles</c>, if any.
/// </summary>
/// <remarks>
/// <para>
/// The members that also exist on <c>StaticFileOptions</c> (<see cref="Root"/>, <see cref="RequestPath"/>,
/// <see cref="ServeUnknownFileTypes"/>, <see cref="DefaultContentType"/>) apply to
/// <c>UseZeroCopyStaticFiles()</c> without arguments, where they win over the
/// <c>StaticFileOptions</c> registered in DI. The overloads that take a request path or a
/// <c>StaticFileOptions</c> keep what the code passed for those members.
/// </para>
/// <para>
/// <see cref="ContentTypes"/>, <see cref="CacheControl"/>, <see cref="Mode"/> and the
/// transport and cache settings have no <c>StaticFileOptions</c> counterpart and apply to
/// every <c>UseZeroCopyStaticFiles</c> call.
/// </para>
/// </remarks>
public sealed class ZeroCopyStaticFilesOptions
{
    /// <summary>The configuration section the options are read from: <c>ZeroCopyStaticFiles</c>.</summary>
    public const string SectionName = "ZeroCopyStaticFiles";

    /// <summary>
    /// Directory to serve, absolute or relative to the content root.
    /// </summary>
    /// <remarks>Defaults to <see langword="null"/>: the web root (<c>wwwroot</c>).</remarks>
    public string? Root { get; set; }

    /// <summary>
    /// URL prefix the files are served under, for example <c>/static</c>. Must start with
    /// <c>/</c> and must not end with <c>/</c>.
    /// </summary>
    /// <remarks>Defaults to <see langword="null"/>: the <c>StaticFileOptions.RequestPath</c> in use (empty).</remarks>
    public string? RequestPath { get; set; }

    /// <summary>
    /// Serve files whose extension has no known content type, with <see cref="DefaultContentType"/>.
    /// </summary>
    /// <remarks>Defaults to <see langword="null"/>: the <c>StaticFileOptions</c> value (<see langword="false"/>).</remarks>
    public bool? ServeUnknownFileTypes { get; set; }

    /// <summary>
    /// Content type sent for files of unknown type when <see cref="ServeUnknownFileTypes"/> is on.
    /// </summary>
    /// <remarks>Defaults to <see langword="null"/>: the <c>StaticFileOptions</c> value (none).</remarks>
    public string? DefaultContentType { get; set; }

    /// <summary>
    /// Extra extension to content type mappings, consulted before the content type provider,
    /// for example <c>".webmanifest": "application/manifest+json"</c>. Keys may be written with
    /// or without the leading dot and are case-insensitive.
    /// </summary>
    /// <remarks>Defaults to empty.</remarks>
    [SuppressMessage("Usage", "CA2227:Collection properties should be read only", Justification = "Bound from configuration and replaced wholesale in code.")]
    public IDictionary<string, string> ContentTypes { get; set; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// <c>Cache-Control</c> header value added to 200, 206 and 304 responses for files, before
    /// <c>OnPrepareResponse</c> runs (which may still change it), for example
    /// <c>public, max-age=3600</c>.
    /// </summary>
    /// <remarks>Defaults to <see langword="null"/>: no header, as stock.</remarks>
    public string? CacheControl { get; set; }

    /// <summary>How file bytes are sent. See <see cref="ZeroCopyMode"/>.</summary>
    /// <remarks>Defaults to <see cref="ZeroCopyMode.Auto"/>.</remarks>
    public ZeroCopyMode Mode { get; set; } = ZeroCopyMode.Auto;

    /// <summary>
    /// Bodies smaller than this many bytes are copied through Kestrel's output pipe together with
    /// the headers (one send) instead of being sent with sendfile/splice.
    /// </summary>
    /// <remarks>Defaults to 16384 (16 KiB). 0 sends every eligible body with the zero-copy path.</remarks>
    public long MinZeroCopyBytes { get; set; } = DefaultMinZeroCopyBytes;

    internal const long DefaultMinZeroCopyBytes = 16 * 1024;

    /// <summary>The hot-file cache (section <c>ZeroCopyStaticFiles:Cache</c>).</summary>
    /// <remarks>Defaults to a <see cref="ZeroCopyCacheOptions"/> with its defaults.</remarks>
    public ZeroCopyCacheOptions Cache { get; set; } = new();

    /// <summary>The short-circuit lane: plain requests for cached files answered by the transport (off by default).</summary>
    public ZeroCopyShortCircuitOptions ShortCircuit { get; set; } = new();

    /// <summary>
    /// Most ranges one request may ask for: a Range header with 2 to <see cref="MaxRanges"/> ranges
    /// is answered 206 <c>multipart/byteranges</c>; more ranges, or ranges that add up to more than
    /// the file, are answered 200 with the whole file. 1 keeps stock's behaviour (several ranges →
    /// 200).
    /// </summary>
    /// <remarks>Defaults to 16.</remarks>
    public int MaxRanges { get; set; } = 16;

    /// <summary>
    /// <c>Cache-Control</c> values by file: the first rule whose <see cref="CacheControlRule.Match"/>
    /// matches the request's file path wins; when none does, <see cref="CacheControl"/> applies.
    /// </summary>
    /// <remarks>Defaults to empty.</remarks>
    [SuppressMessage("Usage", "CA2227:Collection properties should be read only", Justification = "Bound from configuration and replaced wholesale in code.")]
    public IList<CacheControlRule> CacheControlRules { get; set; } = [];

    /// <summary>How ETags are computed (section <c>ZeroCopyStaticFiles:ETag</c>).</summary>
    /// <remarks>Defaults to a <see cref="ZeroCopyETagOptions"/> with its defaults.</remarks>
    public ZeroCopyETagOptions ETag { get; set; } = new();

    /// <summary>Precompressed siblings such as <c>app.js.br</c> (section <c>ZeroCopyStaticFiles:Precompressed</c>).</summary>
    /// <remarks>Defaults to a <see cref="ZeroCopyPrecompressedOptions"/> with its defaults.</remarks>
    public ZeroCopyPrecompressedOptions Precompressed { get; set; } = new();

    /// <summary>Default documents for directory requests (section <c>ZeroCopyStaticFiles:DefaultDocuments</c>).</summary>
    /// <remarks>Defaults to a <see cref="ZeroCopyDefaultDocumentsOptions"/> with its defaults.</remarks>
    public ZeroCopyDefaultDocumentsOptions DefaultDocuments { get; set; } = new();

    /// <summary>
    /// A file (path relative to the root, for example <c>index.html</c>) served for GET/HEAD requests
    /// under the request path that match no file and whose last segment has no extension: the
    /// fallback of a single-page application, like <c>MapFallbackToFile</c>.
    /// </summary>
    /// <remarks>Defaults to <see langword="null"/>: no fallback, the next middleware runs.</remarks>
    public string? FallbackFile { get; set; }

    /// <summary>
    /// Problems found while reading the configuration section (values that do not parse).
    /// They are reported together with the validation errors.
    /// </summary>
    internal List<string> BindingErrors { get; } = [];

    /// <summary>Keys under the section that the library does not know (reported as warnings).</summary>
    internal List<string> UnknownKeys { get; } = [];
}

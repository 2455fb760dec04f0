namespace ZeroCopy.AspNetCore;

/// <summary>
/// The short-circuit lane (configuration section <c>ZeroCopyStaticFiles:ShortCircuit</c>): on
/// connections of the zero-copy transport, a plain GET or HEAD for a file in the hot-file cache is
/// answered by the transport from the cache entry before Kestrel parses it: no <c>HttpContext</c>,
/// no middleware, the same bytes the middleware would send.
/// </summary>
/// <remarks>
/// Like an endpoint marked <c>.ShortCircuit()</c>, a request the lane answers skips everything
/// registered before <c>UseZeroCopyStaticFiles</c> (authentication, host filtering, headers
/// middleware, HTTPS redirection, request logging, routing to an endpoint with the same path).
/// Enable it only where nothing before the static files would change or refuse those responses.
/// The lane is never used by a middleware with <c>OnPrepareResponse</c> or
/// <c>OnPrepareResponseAsync</c>. A change of <see cref="Enabled"/> applies to connections accepted
/// after it.
/// </remarks>
public sealed class ZeroCopyShortCircuitOptions
{
    /// <summary>Answer plain requests for cached files in the transport.</summary>
    /// <remarks>Defaults to <see langword="false"/>.</remarks>
    public bool Enabled { get; set; }
}

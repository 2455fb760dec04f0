using System.IO.Pipelines;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>
/// Set on connections accepted by the zero-copy transport. Kestrel's request features fall back to
/// connection features, so it is visible from <c>HttpContext.Features</c>.
/// </summary>
internal interface IZeroCopyConnectionFeature
{
    /// <summary>
    /// The transport's own output writer. If <c>IConnectionTransportFeature.Transport.Output</c> is
    /// another object, something (TLS, a connection middleware) sits in between and regions cannot
    /// be used.
    /// </summary>
    PipeWriter Output { get; }

    /// <summary>
    /// Arms the output writer: the next <see cref="FileRegion.Count"/> bytes advanced through
    /// Kestrel are the region (their memory is never read). Only valid when exactly
    /// <paramref name="unflushed"/> bytes were written into this writer and not flushed yet (the
    /// response headers, when the caller proved they reached this writer directly; usually 0).
    /// Ownership of the region passes to the connection.
    /// </summary>
    void BeginRegion(FileRegion region, long unflushed = 0);

    /// <summary>True once the connection has ended (reset, aborted, closed): nothing more can be sent.</summary>
    bool IsClosed { get; }

    /// <summary>Aborts the connection: used when a region protocol step fails.</summary>
    void Abort(string reason);
}

using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>
/// Something that reads a connection's requests before Kestrel does (the short-circuit lane). The
/// transport only installs it; what it answers is decided outside the transport.
/// </summary>
internal interface IConnectionLane
{
    /// <summary>Whether a connection accepted now gets the lane (it is switched on somewhere).</summary>
    bool IsActive { get; }

    /// <summary>
    /// The reader Kestrel reads the connection's input from, wrapping <paramref name="input"/>
    /// (called only while <see cref="IsActive"/>). <paramref name="output"/> is the connection's
    /// output writer, which the lane writes only while Kestrel waits for its next request.
    /// </summary>
    /// <param name="input">The input pipe's reader. Its continuations run inline on the transport's thread when <paramref name="handOff"/> is true.</param>
    /// <param name="output">The connection's output writer.</param>
    /// <param name="features">The connection's features (Kestrel adds its own to them).</param>
    /// <param name="handOff">
    /// True when Kestrel must not run on the transport's thread (it is not in
    /// UnsafePreferInlineScheduling mode): the lane then hands every read result Kestrel gets to the
    /// thread pool, as the input pipe's scheduler would have.
    /// </param>
    PipeReader Attach(PipeReader input, RegionPipeWriter output, IFeatureCollection features, bool handOff);
}

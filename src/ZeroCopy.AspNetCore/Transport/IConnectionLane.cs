using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>
/// Something that reads a connection's requests before Kestrel does (the short-circuit lane). The
/// transport only installs it; what it answers is decided outside the transport.
/// </summary>
internal interface IConnectionLane
{
    /// <summary>
    /// The reader Kestrel reads the connection's input from, wrapping <paramref name="input"/>; or
    /// null to leave the connection alone. <paramref name="output"/> is the connection's output
    /// writer, which the lane writes only while Kestrel waits for its next request.
    /// </summary>
    PipeReader? Attach(PipeReader input, PipeWriter output, IFeatureCollection features);
}

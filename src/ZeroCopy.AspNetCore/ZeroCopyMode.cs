namespace ZeroCopy.AspNetCore;

/// <summary>
/// How file bytes reach the client socket.
/// </summary>
public enum ZeroCopyMode
{
    /// <summary>
    /// Use <see cref="SendFile"/> where the response is eligible; if the file system cannot do
    /// sendfile(2) for a file, fall back to <see cref="Splice"/> and then to <see cref="Stream"/>
    /// before any byte of that response is sent.
    /// </summary>
    Auto = 0,

    /// <summary>
    /// sendfile(2) from the file into the socket, at the response's place in Kestrel's output.
    /// Requires the zero-copy transport (<c>AddZeroCopyStaticFiles()</c>) on Linux.
    /// </summary>
    SendFile = 1,

    /// <summary>
    /// splice(2) from the file into a pipe and from the pipe into the socket.
    /// Requires the zero-copy transport on Linux.
    /// </summary>
    Splice = 2,

    /// <summary>
    /// Copy the file through <c>Response.BodyWriter</c> with pooled buffers. Works everywhere
    /// (TLS, HTTP/2, HTTP/3, TestServer, any OS) and is what every other mode falls back to.
    /// </summary>
    Stream = 3,
}

namespace ZeroCopy.AspNetCore.Transport;

internal enum RegionOutcome
{
    /// <summary>Every byte of the region left.</summary>
    Sent,
    /// <summary>The file ended before the region did (it was truncated): the connection must end.</summary>
    FileEnded,
    /// <summary>
    /// The file is no longer the version the response headers describe (rewritten, truncated and
    /// regrown): the connection must end before bytes of two versions pass as one body.
    /// </summary>
    FileChanged,
    /// <summary>The client reset the connection.</summary>
    ConnectionReset,
    /// <summary>The connection was aborted (by Kestrel, the rate rule, shutdown) during the send.</summary>
    Aborted,
    /// <summary>Any other failure.</summary>
    Failed,
}

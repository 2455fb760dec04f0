namespace ZeroCopy.AspNetCore.Transport;

/// <summary>How the transport sent a file region (what the body sender counts from).</summary>
/// <param name="Outcome">Sent, or why it stopped.</param>
/// <param name="Engine">The engine that sent the region's bytes (the last one tried).</param>
/// <param name="BytesSent">Region bytes handed to the socket.</param>
/// <param name="EngineFallbacks">Engines refused by the kernel before this one (sendfile → splice → copy).</param>
internal readonly record struct RegionResult(RegionOutcome Outcome, RegionEngine Engine, long BytesSent, int EngineFallbacks);

/// <summary>How the send loop moves a region's bytes from the file to the socket.</summary>
internal enum RegionEngine
{
    /// <summary>sendfile(2), waiting for a full socket through SendPacketsAsync.</summary>
    SendFile,
    /// <summary>splice(2) file → pipe → socket.</summary>
    Splice,
    /// <summary>pread(2) + send(2): the file system refused both zero-copy calls.</summary>
    Copy,
}

/// <summary>Hears the <see cref="RegionResult"/> of the regions it was given to.</summary>
internal interface IFileRegionObserver
{
    /// <summary>Runs on the connection's send loop: must be quick and must not throw.</summary>
    void RegionCompleted(FileRegion region, RegionResult result);
}

internal static class RegionEngineNames
{
    /// <summary>Names as the logs and the <c>zerocopy.strategy</c> tag spell them.</summary>
    public static string Name(this RegionEngine engine) => engine switch
    {
        RegionEngine.SendFile => "sendfile",
        RegionEngine.Splice => "splice",
        _ => "stream",
    };
}

namespace ZeroCopy.AspNetCore.Transport;

/// <summary>The connection a <see cref="RegionTransfer"/> sends for (either engine's connection).</summary>
internal interface IRegionOwner
{
    /// <summary>For logs.</summary>
    string ConnectionId { get; }

    /// <summary>
    /// True once the connection is shutting down: a syscall that fails then failed because of the
    /// shutdown (the socket closed underneath), so the region ends as
    /// <see cref="RegionOutcome.Aborted"/> without an error log.
    /// </summary>
    bool IsShutDown { get; }
}

/// <summary>What one <see cref="RegionTransfer.Step"/> left behind.</summary>
internal enum RegionStep
{
    /// <summary>The budget was used and more of the region remains: call again (after other work).</summary>
    Progress,

    /// <summary>
    /// The socket is full (EAGAIN). Nothing is lost: bytes already taken from the file wait in the
    /// splice pipe or the copy buffer. Call again once the socket is writable.
    /// </summary>
    WouldBlock,

    /// <summary>The region is over; <see cref="RegionTransfer.Outcome"/> says how.</summary>
    Done,
}

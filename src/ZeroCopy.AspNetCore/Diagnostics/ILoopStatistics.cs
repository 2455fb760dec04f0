namespace ZeroCopy.AspNetCore.Diagnostics;

/// <summary>What the EventLoop engine's loops report to <see cref="ZeroCopyMetrics"/>.</summary>
internal interface ILoopStatistics
{
    int LoopCount { get; }

    /// <summary>Connections assigned to loop <paramref name="loop"/> and not closed yet.</summary>
    int ConnectionsOf(int loop);
}

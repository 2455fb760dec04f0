namespace ZeroCopy.AspNetCore.Diagnostics;

/// <summary>What the cache gauges report.</summary>
internal interface ICacheStatistics
{
    int Count { get; }

    long SnapshotBytes { get; }
}

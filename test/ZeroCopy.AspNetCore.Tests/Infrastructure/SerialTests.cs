namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>
/// Tests that count the process's open descriptors or memory mappings run alone: other tests
/// running in parallel in the same process would move those numbers.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialTests
{
    public const string Name = "Descriptor accounting";
}

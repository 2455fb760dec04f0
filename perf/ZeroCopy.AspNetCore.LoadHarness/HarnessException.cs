namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>A failure the harness reports in plain words (no stack trace) before exiting non-zero.</summary>
internal sealed class HarnessException : Exception
{
    public HarnessException()
    {
    }

    public HarnessException(string message)
        : base(message)
    {
    }

    public HarnessException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

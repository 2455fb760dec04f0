using System.Globalization;

namespace ZeroCopy.AspNetCore.Tests.Transport.EventLoop;

/// <summary>
/// Issue 15, item 5: a write to a socket the peer has reset must not kill the process. The engine
/// relies on EPIPE rather than SIGPIPE: sendmsg passes MSG_NOSIGNAL, and the .NET runtime ignores
/// SIGPIPE for the whole process (signal 13 in the SigIgn mask of proc(5)), which also covers the
/// sendfile and splice calls, which have no such flag.
/// </summary>
public sealed class SignalDispositionTests
{
    private const int SigPipe = 13;

    [Fact]
    public void The_test_process_ignores_SIGPIPE()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "proc(5) is Linux.");
        Assert.True(IgnoresSigPipe("/proc/self/status", out var mask), $"SigIgn {mask:x16} does not include SIGPIPE ({SigPipe}).");
    }

    /// <summary>True when the SigIgn line of a proc(5) status file has signal 13's bit (bit 12: signal n is bit n - 1).</summary>
    public static bool IgnoresSigPipe(string statusPath, out ulong mask)
    {
        var line = File.ReadLines(statusPath).First(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        mask = ulong.Parse(line["SigIgn:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return (mask & (1UL << (SigPipe - 1))) != 0;
    }
}

using Microsoft.Net.Http.Headers;
using ZeroCopy.AspNetCore.StaticFiles;

namespace ZeroCopy.AspNetCore.Tests.Adversarial;

/// <summary>
/// A bug found by <see cref="ParserFuzzTests"/> (seed 7), now fixed: <c>RangeParser.SelectSeveral</c>
/// added the requested lengths in an Int64 before comparing with the file's length; for a file over
/// 2^62 bytes (4 EiB, possible as a sparse file on XFS) the sum wrapped negative and the README's
/// rule "ranges adding up to more than the file get the whole file" was skipped (206 instead of the
/// documented 200; the parts stayed inside the file). The check is now written so it cannot overflow.
/// </summary>
public sealed class RangeParserOverflowTests
{
    [Theory]
    [InlineData("bytes=29-,-45", long.MaxValue - 1)]
    [InlineData("bytes=0-,0-", long.MaxValue)]
    [InlineData("bytes=0-,0-", 1L << 62)]
    public void Ranges_adding_up_to_more_than_a_huge_file_get_the_whole_file(string range, long length)
    {
        IHeaderDictionary headers = new HeaderDictionary { [HeaderNames.Range] = range };

        var selection = RangeParser.Select(headers, length, DateTimeOffset.UnixEpoch, new EntityTagHeaderValue("\"t\""), maxRanges: 16);

        // Requested: well over the file's length (2 × length for "0-,0-").
        Assert.Equal(RangeKind.Full, selection.Kind);
    }

    [Fact]
    public void The_same_ranges_on_a_file_under_4_EiB_get_the_whole_file()
    {
        IHeaderDictionary headers = new HeaderDictionary { [HeaderNames.Range] = "bytes=0-,0-" };

        // The control: 2 × (2^62 - 1) still fits in an Int64.
        var selection = RangeParser.Select(headers, (1L << 62) - 1, DateTimeOffset.UnixEpoch, new EntityTagHeaderValue("\"t\""), maxRanges: 16);

        Assert.Equal(RangeKind.Full, selection.Kind);
    }
}

namespace ZeroCopy.AspNetCore.Tests.Differential;

/// <summary>
/// The intentional differences between <c>UseZeroCopyStaticFiles</c> and stock <c>UseStaticFiles</c>,
/// as documented in DESIGN.md §7 and in <c>StaticFiles/Preconditions.cs</c>. The differential tests
/// accept a difference from stock only when it is one of these (or a combination of D1-D4), and only
/// in the documented form.
/// </summary>
[Flags]
public enum DocumentedDifference
{
    None = 0,

    /// <summary>D1: If-None-Match uses the weak comparison (RFC 9110 §13.1.2); stock compares strongly.</summary>
    D1WeakIfNoneMatch = 1,

    /// <summary>D2: a parsable If-None-Match makes If-Modified-Since ignored (RFC 9110 §13.1.3); stock lets IMS win.</summary>
    D2IfNoneMatchOverridesIfModifiedSince = 2,

    /// <summary>D3: a parsable If-Match makes If-Unmodified-Since ignored (RFC 9110 §13.1.4); stock answers 412.</summary>
    D3IfMatchOverridesIfUnmodifiedSince = 4,

    /// <summary>
    /// D4: evaluation order of RFC 9110 §13.2.2: a passing If-Match/If-Unmodified-Since does not turn a
    /// true If-None-Match/If-Modified-Since (304) into a 200; stock takes the "largest" precondition
    /// state and ranks ShouldProcess above NotModified.
    /// </summary>
    D4Rfc9110EvaluationOrder = 8,

    /// <summary>
    /// D5: symlinks resolving outside the root are not served (404; stock serves them with the link's
    /// own size as Content-Length); FIFOs, sockets and devices are not served (404 without blocking;
    /// stock hangs on a FIFO).
    /// </summary>
    D5NotServedFileKinds = 16,
}

internal static class DocumentedDifferences
{
    /// <summary>The precondition rules D1-D4, which the oracle can switch on one by one.</summary>
    public static readonly DocumentedDifference[] PreconditionRules =
    [
        DocumentedDifference.D1WeakIfNoneMatch,
        DocumentedDifference.D2IfNoneMatchOverridesIfModifiedSince,
        DocumentedDifference.D3IfMatchOverridesIfUnmodifiedSince,
        DocumentedDifference.D4Rfc9110EvaluationOrder,
    ];

    /// <summary>All of D1-D4: the rules of <c>UseZeroCopyStaticFiles</c>.</summary>
    public const DocumentedDifference AllPreconditionRules =
        DocumentedDifference.D1WeakIfNoneMatch
        | DocumentedDifference.D2IfNoneMatchOverridesIfModifiedSince
        | DocumentedDifference.D3IfMatchOverridesIfUnmodifiedSince
        | DocumentedDifference.D4Rfc9110EvaluationOrder;

    /// <summary>"D1", "D2+D4", "none".</summary>
    public static string Label(DocumentedDifference differences)
    {
        if (differences == DocumentedDifference.None)
        {
            return "none";
        }

        var parts = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            if (((int)differences & (1 << i)) != 0)
            {
                parts.Add("D" + (i + 1));
            }
        }

        return string.Join('+', parts);
    }
}

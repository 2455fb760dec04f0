using System.Globalization;

namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>
/// Figures the reliability tests measure: written to the test output (<c>FIGURE [form] name: value</c>)
/// and appended as a markdown row to the file named by <c>ZC_RELIABILITY_FIGURES</c> when set
/// (perf/reliability/run.sh sets it). The form is <c>full</c> under <c>ZC_RELIABILITY_FULL=1</c>,
/// else <c>ci</c>.
/// </summary>
internal static class Figures
{
    private static readonly Lock s_lock = new();

    /// <summary>CI form versus full form: <c>ZC_RELIABILITY_FULL=1</c> selects the full sizes.</summary>
    public static bool Full => Environment.GetEnvironmentVariable("ZC_RELIABILITY_FULL") == "1";

    public static string Form => Full ? "full" : "ci";

    public static void Report(string figure, FormattableString value) => Report(figure, value.ToString(CultureInfo.InvariantCulture));

    public static void Report(string figure, string value)
    {
        TestContext.Current.TestOutputHelper?.WriteLine($"FIGURE [{Form}] {figure}: {value}");
        if (Environment.GetEnvironmentVariable("ZC_RELIABILITY_FIGURES") is { Length: > 0 } path)
        {
            lock (s_lock)
            {
                File.AppendAllText(path, $"| {Form} | {figure} | {value.Replace("|", "\\|", StringComparison.Ordinal)} |\n");
            }
        }
    }

    public static void Line(string text) => TestContext.Current.TestOutputHelper?.WriteLine(text);

    public static string Seconds(TimeSpan elapsed) => elapsed.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture) + " s";

    /// <summary>The p-th percentile (nearest rank) of <paramref name="values"/>.</summary>
    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static double Median(IReadOnlyList<double> values) => Percentile(values, 50);
}

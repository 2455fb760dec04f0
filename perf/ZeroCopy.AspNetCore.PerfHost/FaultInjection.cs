using System.Text;

namespace ZeroCopy.AspNetCore.PerfHost;

/// <summary>
/// Deliberately broken responses, to prove that the harness fails a run instead of reporting a
/// flattering number (perf/run.sh --inject-fault KIND). Never on unless asked for.
/// </summary>
/// <remarks>
/// The first <see cref="Spared"/> requests are answered correctly so the server passes the
/// harness's checks before load; after that every <see cref="Every"/>th request is broken.
/// </remarks>
internal static class FaultInjection
{
    public const string Kinds = "status, length, abort";
    private const int Spared = 1000;
    private const int Every = 97;
    private static readonly byte[] s_wrongBody = Encoding.ASCII.GetBytes("wrong");
    private static long s_requests;

    public static bool IsKnown(string kind) => kind is "status" or "length" or "abort";

    public static Func<RequestDelegate, RequestDelegate> Create(string kind) => next => context =>
    {
        var count = Interlocked.Increment(ref s_requests);
        if (count <= Spared || count % Every != 0)
        {
            return next(context);
        }

        switch (kind)
        {
            case "status":
                // A fast error: wrk counts it as a non-2xx response.
                context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                return Task.CompletedTask;
            case "length":
                // Well-framed but wrong: a 200 with another body length than the file's.
                context.Response.StatusCode = StatusCodes.Status200OK;
                context.Response.ContentLength = s_wrongBody.Length;
                return context.Response.Body.WriteAsync(s_wrongBody).AsTask();
            default:
                // The connection closes before the response: wrk silently reconnects.
                context.Abort();
                return Task.CompletedTask;
        }
    };
}

using System.Text;

namespace ZeroCopy.AspNetCore.PerfHost;

/// <summary>
/// <c>GET /plaintext</c>: "Hello, World!" with a Content-Length, answered before any other
/// middleware (no routing), so the workload measures the transport and Kestrel only.
/// </summary>
internal static class Plaintext
{
    public const string Path = "/plaintext";

    private static readonly byte[] s_body = Encoding.ASCII.GetBytes("Hello, World!");

    public static Task WriteAsync(HttpContext context)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/plain";
        response.ContentLength = s_body.Length;
        return response.BodyWriter.WriteAsync(s_body).AsTask();
    }
}

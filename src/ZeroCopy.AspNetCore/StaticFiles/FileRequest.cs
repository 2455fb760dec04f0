using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using ZeroCopy.AspNetCore.Body;

namespace ZeroCopy.AspNetCore.StaticFiles;

/// <summary>
/// One request that a static-file middleware answers: what every step after the path match reads
/// (the role of stock's <c>StaticFileContext</c>). Cheap to copy; built once per matched request.
/// </summary>
internal readonly struct FileRequest
{
    public FileRequest(HttpContext context, StaticFileSite site, string subPath)
    {
        Context = context;
        Site = site;
        SubPath = subPath;
    }

    public HttpContext Context { get; }

    /// <summary>The middleware's settings in effect when the request arrived.</summary>
    public StaticFileSite Site { get; }

    /// <summary>The request path below the middleware's RequestPath ("/css/site.css").</summary>
    public string SubPath { get; }

    public BodyPolicy BodyPolicy => new(Site.Mode, Site.MinZeroCopyBytes);

    /// <summary>
    /// The body feature whose SendFileAsync must send file bytes, as with stock (IIS, HTTP.sys,
    /// TestServer, a wrapping middleware); null when it is Kestrel's own, which this library writes
    /// to directly. Our own SendFileAsync wrapper is looked through: the region it would try has
    /// already been tried (and its fallback counted) by then.
    /// </summary>
    public IHttpResponseBodyFeature? ServerSendFile
    {
        get
        {
            var body = Context.Features.Get<IHttpResponseBodyFeature>();
            if (ZeroCopyEligibility.IsKestrelBody(body))
            {
                return null;
            }

            return body is ZeroCopyResponseBodyFeature ours ? ours.Inner : body;
        }
    }
}

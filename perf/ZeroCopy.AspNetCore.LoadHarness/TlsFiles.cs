using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>
/// The self-signed certificate and key (PEM) of every server's HTTPS port: perf/run.sh makes them
/// with openssl in a temporary folder; the .NET hosts and nginx load the same two files.
/// </summary>
internal sealed class TlsFiles
{
    public TlsFiles(string certificate, string key)
    {
        Certificate = certificate;
        Key = key;
        using var loaded = X509Certificate2.CreateFromPem(File.ReadAllText(certificate));
        Thumbprint = loaded.Thumbprint;
    }

    public string Certificate { get; }

    public string Key { get; }

    /// <summary>SHA-1 thumbprint of the certificate: the verifying clients trust exactly this one.</summary>
    public string Thumbprint { get; }

    /// <summary>Accepts the run's own certificate and nothing else.</summary>
    public bool Validate(X509Certificate? presented) => presented is not null && presented.GetCertHashString() == Thumbprint;

    public SslClientAuthenticationOptions ClientOptions(string host, params SslApplicationProtocol[] protocols) => new()
    {
        TargetHost = host,
        // None given: the client picks (HttpClient offers h2 for an HTTP/2 request).
        ApplicationProtocols = protocols.Length == 0 ? null : [.. protocols],
        RemoteCertificateValidationCallback = (_, presented, _, _) => Validate(presented),
    };
}

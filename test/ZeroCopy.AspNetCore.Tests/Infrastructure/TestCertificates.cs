using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ZeroCopy.AspNetCore.Tests.Infrastructure;

/// <summary>Certificates made in the test, for Kestrel's HTTPS endpoints on 127.0.0.1.</summary>
public static class TestCertificates
{
    /// <summary>
    /// A self-signed P-256 server certificate for localhost and 127.0.0.1, valid from 5 minutes ago
    /// for a day. The caller disposes it.
    /// </summary>
    public static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));

        // Re-imported from PKCS#12: on Linux SslStream cannot use the ephemeral key of CreateSelfSigned.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), password: null);
    }
}

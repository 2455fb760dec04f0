using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace ZeroCopy.AspNetCore.Tests.Transport.Conformance;

/// <summary>
/// Beyond HTTP/1.1 in clear text: HTTP/2 (h2c prior knowledge) and TLS (HTTP/1.1 and HTTP/2 by
/// ALPN) run over the transport unchanged: Kestrel's connection middleware sits on top of it.
/// </summary>
public sealed class Http2AndTlsConformanceTests
{
    private static readonly Lazy<X509Certificate2> s_certificate = new(TestCertificates.SelfSigned);

    [Theory]
    [InlineData(TransportKind.Socket)]
    [InlineData(TransportKind.ZeroCopy)]
    [InlineData(TransportKind.EventLoop)]
    public async Task Cleartext_HTTP2_multiplexes_large_bodies_byte_exact(TransportKind kind)
    {
        await using var host = await ConformanceHost.StartAsync(kind, BodyConformanceTests.MapEndpoints, s =>
        {
            s.Listen = l => l.Protocols = HttpProtocols.Http2;
            s.ClientVersion = HttpVersion.Version20;
        });

        await RunMixedLoadAsync(host, HttpVersion.Version20);
        Assert.Equal(1, host.ConnectionCount);
        host.AssertClean();
    }

    [Theory]
    [InlineData(TransportKind.Socket, "1.1")]
    [InlineData(TransportKind.Socket, "2.0")]
    [InlineData(TransportKind.ZeroCopy, "1.1")]
    [InlineData(TransportKind.ZeroCopy, "2.0")]
    [InlineData(TransportKind.EventLoop, "1.1")]
    [InlineData(TransportKind.EventLoop, "2.0")]
    public async Task TLS_connections_carry_large_bodies_byte_exact(TransportKind kind, string version)
    {
        var httpVersion = Version.Parse(version);
        await using var host = await ConformanceHost.StartAsync(kind, BodyConformanceTests.MapEndpoints, s =>
        {
            s.Listen = l => l.Protocols = HttpProtocols.Http1AndHttp2;
            s.Certificate = s_certificate.Value;
            s.ClientVersion = httpVersion;
        });

        Assert.Equal("https", host.BaseAddress.Scheme);
        await RunMixedLoadAsync(host, httpVersion);
        host.AssertClean();
    }

    private static async Task RunMixedLoadAsync(ConformanceHost host, Version version)
    {
        var token = TestContext.Current.CancellationToken;
        var downloads = Enumerable.Range(0, 12).Select(async i =>
        {
            var size = (i * 97_003) + 1;
            using var response = await host.Client.GetAsync($"/stream?size={size}&mode={(i % 2 == 0 ? "body" : "writer")}", token);
            var body = await response.Content.ReadAsByteArrayAsync(token);
            Assert.Equal(version, response.Version);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.True(body.AsSpan().SequenceEqual(ConformanceData.Large.AsSpan(0, size)), $"download {i} of {size} bytes differs ({body.Length} bytes received).");
        });
        // Uploads are hashed server-side (an echo of megabytes can deadlock HTTP/2 flow control,
        // since HttpClient reads the response only after sending the request body).
        var uploads = Enumerable.Range(0, 4).Select(async i =>
        {
            var payload = ConformanceData.Bytes((i * 700_001) + 3, seed: 100 + i);
            using var content = new ByteArrayContent(payload);
            using var response = await host.Client.PostAsync("/hash", content, token);
            var body = await response.Content.ReadAsStringAsync(token);
            Assert.Equal(version, response.Version);
            Assert.Equal($"{payload.Length} {ConformanceData.Sha256(payload)}", body);
        });
        var echoes = Enumerable.Range(0, 4).Select(async i =>
        {
            var payload = ConformanceData.Bytes((i * 7_001) + 1, seed: 200 + i);
            using var content = new ByteArrayContent(payload);
            using var response = await host.Client.PostAsync("/echo", content, token);
            var body = await response.Content.ReadAsByteArrayAsync(token);
            Assert.Equal(version, response.Version);
            Assert.True(payload.AsSpan().SequenceEqual(body), $"echo {i} of {payload.Length} bytes came back different ({body.Length} bytes).");
        });
        await Task.WhenAll(downloads.Concat(uploads).Concat(echoes)).Within(TimeSpan.FromSeconds(30), "the concurrent requests");
    }
}

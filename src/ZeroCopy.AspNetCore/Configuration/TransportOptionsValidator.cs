using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ZeroCopy.AspNetCore.Diagnostics;

namespace ZeroCopy.AspNetCore.Configuration;

/// <summary>
/// Validates <see cref="ZeroCopyTransportOptions"/> when they are first read: a value that does not
/// parse, an unknown engine or an <c>EventLoopCount</c> below 1 fails with the configuration key of
/// each problem (<see cref="OptionsValidationException"/>, as the rest of the section), and keys
/// under <c>ZeroCopyStaticFiles:Transport</c> that the library does not know are logged once as
/// warnings.
/// </summary>
/// <remarks>
/// The transport reads its options once, when Kestrel creates it (for a <c>WebApplication</c>: in
/// <c>builder.Build()</c>, which resolves the server), so this runs once per application, before
/// anything listens.
/// </remarks>
internal sealed class TransportOptionsValidator : IValidateOptions<ZeroCopyTransportOptions>
{
    private readonly ILogger _logger;

    public TransportOptionsValidator(ILoggerFactory? loggerFactory = null)
        => _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("ZeroCopy.AspNetCore.Configuration");

    public ValidateOptionsResult Validate(string? name, ZeroCopyTransportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (var key in options.UnknownKeys)
        {
            ZeroCopyLog.UnknownConfigurationKey(_logger, key);
        }

        var errors = ZeroCopyOptionsValidator.ValidateTransport(options);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

using System.Globalization;

namespace ZeroCopy.AspNetCore.PerfHost;

/// <summary>Which server this process is.</summary>
internal enum Implementation
{
    /// <summary>Kestrel's own socket transport and stock <c>UseStaticFiles</c>.</summary>
    Stock,

    /// <summary><c>AddZeroCopyStaticFiles()</c> + <c>UseZeroCopyStaticFiles()</c> (and the zero-copy transport once it exists).</summary>
    ZeroCopy,
}

/// <summary>
/// The host's switches. Everything else on the command line is handed to the host's configuration
/// unchanged, so any library setting can be passed as <c>--ZeroCopyStaticFiles:Key=value</c>.
/// </summary>
internal sealed record HostArguments(
    Implementation Implementation,
    string Mode,
    bool Cache,
    string Root,
    int Port,
    string? Fault,
    string[] Remaining,
    int? HttpsPort = null,
    string? TlsCertificate = null,
    string? TlsKey = null,
    string? Engine = null,
    int? EventLoops = null,
    bool Inline = false)
{
    public const string Usage =
        "usage: ZeroCopy.AspNetCore.PerfHost --root DIR [--impl stock|zerocopy] [--mode Auto|SendFile|Splice|Stream]\n" +
        "                                    [--cache on|off] [--port N (0 = ephemeral)] [--fault status|length|abort]\n" +
        "                                    [--https-port N --tls-cert PEM --tls-key PEM]\n" +
        "                                    [--engine Sockets|EventLoop] [--event-loops N] [--inline]\n" +
        "                                    [--Config:Key=value ...]";

    public static HostArguments Parse(string[] args)
    {
        var implementation = Implementation.ZeroCopy;
        var mode = "Auto";
        var cache = false;
        string? root = null;
        var port = 0;
        string? fault = null;
        int? httpsPort = null;
        string? certificate = null;
        string? key = null;
        string? engine = null;
        int? eventLoops = null;
        var inline = false;
        var remaining = new List<string>();

        for (var i = 0; i < args.Length; i++)
        {
            var (name, inlineValue) = Split(args[i]);
            switch (name)
            {
                case "--impl":
                    implementation = Value(args, ref i, name, inlineValue).ToUpperInvariant() switch
                    {
                        "STOCK" => Implementation.Stock,
                        "ZEROCOPY" or "OURS" => Implementation.ZeroCopy,
                        var other => throw new ArgumentException($"--impl: '{other}' is not stock or zerocopy."),
                    };
                    break;
                case "--mode":
                    // Passed to the library as configuration, which validates it (names only).
                    mode = Value(args, ref i, name, inlineValue);
                    break;
                case "--cache":
                    cache = Value(args, ref i, name, inlineValue).ToUpperInvariant() switch
                    {
                        "ON" or "TRUE" => true,
                        "OFF" or "FALSE" => false,
                        var other => throw new ArgumentException($"--cache: '{other}' is not on or off."),
                    };
                    break;
                case "--root":
                    root = Path.GetFullPath(Value(args, ref i, name, inlineValue));
                    break;
                case "--port":
                    port = PortNumber(name, Value(args, ref i, name, inlineValue));
                    break;
                case "--https-port":
                    httpsPort = PortNumber(name, Value(args, ref i, name, inlineValue));
                    break;
                case "--tls-cert":
                    certificate = Path.GetFullPath(Value(args, ref i, name, inlineValue));
                    break;
                case "--tls-key":
                    key = Path.GetFullPath(Value(args, ref i, name, inlineValue));
                    break;
                case "--engine":
                    // Canonical spelling for the two engines issue 15 names; anything else goes to the
                    // library as is, which validates it (as --mode).
                    engine = Value(args, ref i, name, inlineValue) switch
                    {
                        var e when e.Equals("Sockets", StringComparison.OrdinalIgnoreCase) => "Sockets",
                        var e when e.Equals("EventLoop", StringComparison.OrdinalIgnoreCase) => "EventLoop",
                        var e => e,
                    };
                    break;
                case "--event-loops":
                    var loops = Value(args, ref i, name, inlineValue);
                    eventLoops = int.TryParse(loops, NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count > 0
                        ? count
                        : throw new ArgumentException($"--event-loops: '{loops}' is not a positive whole number.");
                    break;
                case "--inline":
                    inline = true;
                    break;
                case "--fault":
                    fault = Value(args, ref i, name, inlineValue);
                    if (!FaultInjection.IsKnown(fault))
                    {
                        throw new ArgumentException($"--fault: '{fault}' is not one of {FaultInjection.Kinds}.");
                    }

                    break;
                default:
                    remaining.Add(args[i]);
                    break;
            }
        }

        if (root is null)
        {
            throw new ArgumentException("--root is required.");
        }

        if (!Directory.Exists(root))
        {
            throw new ArgumentException($"--root: the directory '{root}' does not exist.");
        }

        if (implementation == Implementation.Stock && (cache || !string.Equals(mode, "Auto", StringComparison.OrdinalIgnoreCase)))
        {
            throw new ArgumentException("--mode and --cache apply to --impl zerocopy only.");
        }

        if (implementation == Implementation.Stock && (engine is not null || eventLoops is not null))
        {
            throw new ArgumentException("--engine and --event-loops apply to --impl zerocopy only (--inline applies to both).");
        }

        if (httpsPort is not null && (certificate is null || key is null))
        {
            throw new ArgumentException("--https-port needs --tls-cert and --tls-key (PEM files).");
        }

        return new HostArguments(implementation, mode, cache, root, port, fault, [.. remaining], httpsPort, certificate, key, engine, eventLoops, inline);
    }

    private static int PortNumber(string name, string text)
        => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port <= 65535
            ? port
            : throw new ArgumentException($"{name}: '{text}' is not a port number.");

    private static (string Name, string? Value) Split(string arg)
    {
        var equals = arg.IndexOf('=', StringComparison.Ordinal);
        return arg.StartsWith("--", StringComparison.Ordinal) && equals > 0 && IsOwn(arg[..equals])
            ? (arg[..equals], arg[(equals + 1)..])
            : (arg, null);
    }

    private static bool IsOwn(string name) => name is "--impl" or "--mode" or "--cache" or "--root" or "--port" or "--fault" or "--https-port" or "--tls-cert" or "--tls-key" or "--engine" or "--event-loops";

    private static string Value(string[] args, ref int i, string name, string? inlineValue)
    {
        if (inlineValue is not null)
        {
            return inlineValue;
        }

        if (i + 1 >= args.Length)
        {
            throw new ArgumentException($"{name} needs a value.");
        }

        return args[++i];
    }
}

using System.Diagnostics.CodeAnalysis;

namespace ZeroCopy.AspNetCore.Server;

/// <summary>The server's own command line switch (<c>--root</c>); everything else goes to the host.</summary>
internal sealed record ServerArguments(string? Root, string[] Remaining)
{
    /// <returns>False, with the problem in <paramref name="problem"/>, when the switch has no value.</returns>
    public static bool TryParse(string[] args, [NotNullWhen(true)] out ServerArguments? arguments, [NotNullWhen(false)] out string? problem)
    {
        string? root = null;
        var remaining = new List<string>(args.Length);
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg is "--root" or "-r")
            {
                if (i + 1 >= args.Length)
                {
                    (arguments, problem) = (null, $"{arg} needs a directory.");
                    return false;
                }

                root = Path.GetFullPath(args[++i]);
            }
            else if (arg.StartsWith("--root=", StringComparison.Ordinal))
            {
                if (arg.Length == "--root=".Length)
                {
                    (arguments, problem) = (null, "--root= needs a directory.");
                    return false;
                }

                root = Path.GetFullPath(arg["--root=".Length..]);
            }
            else
            {
                remaining.Add(arg);
            }
        }

        (arguments, problem) = (new ServerArguments(root, [.. remaining]), null);
        return true;
    }
}

namespace ZeroCopy.AspNetCore.Server;

/// <summary>The server's own command line switch (<c>--root</c>); everything else goes to the host.</summary>
internal sealed record ServerArguments(string? Root, string[] Remaining)
{
    public static ServerArguments Parse(string[] args)
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
                    throw new ArgumentException("--root needs a directory.");
                }

                root = Path.GetFullPath(args[++i]);
            }
            else if (arg.StartsWith("--root=", StringComparison.Ordinal))
            {
                root = Path.GetFullPath(arg["--root=".Length..]);
            }
            else
            {
                remaining.Add(arg);
            }
        }

        return new ServerArguments(root, [.. remaining]);
    }
}

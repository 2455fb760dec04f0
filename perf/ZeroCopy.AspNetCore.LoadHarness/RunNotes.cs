namespace ZeroCopy.AspNetCore.LoadHarness;

/// <summary>What the run learned besides the numbers: failures, warnings, which strategies served.</summary>
internal sealed class RunNotes
{
    private readonly List<string> _notes = [];
    private readonly List<string> _failures = [];

    /// <summary>Notes in the order they were first seen, without repeats.</summary>
    public IReadOnlyList<string> Notes => _notes;

    /// <summary>Problems that make the run fail (exit code 1).</summary>
    public IReadOnlyList<string> Failures => _failures;

    public string? Runtime { get; set; }

    public string? Gc { get; set; }

    /// <summary>Share of the machine busy before the run started, with nothing of the harness running.</summary>
    public double BackgroundCpuPercent { get; set; }

    public void Add(string note)
    {
        if (!_notes.Contains(note))
        {
            _notes.Add(note);
        }
    }

    public void Fail(string failure) => _failures.Add(failure);

    /// <summary>TLS version and cipher suite by client and server, as the clients reported them.</summary>
    public void Negotiated(string server, string client, string negotiated)
        => Add($"TLS negotiated with {server}, {client}: {negotiated}");

    /// <summary>Log warnings, each with the servers that logged it.</summary>
    public Dictionary<string, List<string>> Warnings { get; } = new(StringComparer.Ordinal);

    public void Warn(string server, string warning)
    {
        if (!Warnings.TryGetValue(warning, out var servers))
        {
            Warnings[warning] = servers = [];
        }

        if (!servers.Contains(server))
        {
            servers.Add(server);
        }
    }
}

using System.Runtime.Versioning;

// The harness reads /proc, starts nginx and wrk, and sets Unix file modes: Linux only
// (Program.cs checks before doing anything).
[assembly: SupportedOSPlatform("linux")]

using System.Runtime.Versioning;

// The file lookup under test (RootDirectory: openat2, fstat) is Linux-only, like the zero-copy paths.
[assembly: SupportedOSPlatform("linux")]

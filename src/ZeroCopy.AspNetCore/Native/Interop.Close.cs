using System.Runtime.InteropServices;

namespace ZeroCopy.AspNetCore.Native;

internal static partial class Interop
{
    internal const string Libc = "libc";

    // SafeHandle arguments are passed as the handle's nint where the C parameter is an int. That is
    // sound because every such argument goes in a register (at most the 5th integer argument) and
    // the callee reads only the int's 32 bits: x86-64 SysV psABI §3.2.3 passes an INTEGER-class
    // argument in the next of %rdi, %rsi, %rdx, %rcx, %r8, %r9 and the callee uses the 32-bit
    // subregister (%edi...), the upper half being unspecified; AAPCS64's parameter passing rules
    // copy an integral argument of up to 8 bytes to the least significant bits of x[NGRN] and the
    // callee reads an int through w[NGRN]. The handle's value is the descriptor, so those bits are
    // it. Results are not treated this way: a C int result leaves the upper half of %rax/x0
    // unspecified, so descriptor-creating imports return int and the wrapper gives the int to a
    // handle (Own).

    /// <summary>close(2). Only <see cref="SafeHandle.ReleaseHandle"/> implementations call this.</summary>
    [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);
}

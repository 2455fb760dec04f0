using System.Runtime.InteropServices;

namespace ZeroCopy.AspNetCore.Native;

/// <summary>
/// Holds a reference on a <see cref="SafeHandle"/> for the duration of a native call so the
/// descriptor cannot be closed and reused underneath it.
/// </summary>
internal ref struct FdLease
{
    private readonly SafeHandle _handle;
    private bool _addedRef;

    public FdLease(SafeHandle handle)
    {
        _handle = handle;
        _addedRef = false;
        handle.DangerousAddRef(ref _addedRef);
        Fd = (int)handle.DangerousGetHandle();
    }

    public readonly int Fd { get; }

    public void Dispose()
    {
        if (_addedRef)
        {
            _addedRef = false;
            _handle.DangerousRelease();
        }
    }
}

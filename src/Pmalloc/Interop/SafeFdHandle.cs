using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// Owns one file descriptor (a chunk's memfd): <see cref="SafeHandle.Dispose()"/> closes it once, and every call that
/// takes it holds a reference (<c>DangerousAddRef</c>/<c>DangerousRelease</c>, done by the generated marshalling), so a
/// close racing a <c>pwrite</c> waits for it, and the fd number can never be reused by someone else under a write.
/// </summary>
internal sealed class SafeFdHandle : SafeHandle
{
    /// <summary>Used by the marshaller for functions that return a descriptor.</summary>
    public SafeFdHandle()
        : base(-1, ownsHandle: true)
    {
    }

    internal SafeFdHandle(int fd)
        : base(-1, ownsHandle: true) => SetHandle(fd);

    /// <inheritdoc/>
    public override bool IsInvalid => handle < 0;

    /// <inheritdoc/>
    protected override bool ReleaseHandle() =>

        // Intentionally ignore the result: close of a memfd cannot fail in a way we could act on.
        Interop.close((int)handle) == 0 || true;
}

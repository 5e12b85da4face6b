using System.Runtime.InteropServices;

namespace Pmalloc;

/// <summary>
/// Owns one Windows section handle (a chunk's pagefile-backed memory, from <c>CreateFileMappingW</c>), the Windows twin
/// of <see cref="SafeFdHandle"/>: <see cref="SafeHandle.Dispose()"/> closes it once, and every call that takes it holds a
/// reference (done by the generated marshalling), so a close never races a call that uses it. The views mapped from it
/// keep the memory alive after it is closed.
/// </summary>
internal sealed class SafeSectionHandle : SafeHandle
{
    /// <summary>Used by the marshaller for functions that return a section handle.</summary>
    public SafeSectionHandle()
        : base(0, ownsHandle: true)
    {
    }

    /// <inheritdoc/>
    /// <remarks><c>CreateFileMappingW</c> returns NULL, not <c>INVALID_HANDLE_VALUE</c>, on failure.</remarks>
    public override bool IsInvalid => handle == 0 || handle == -1;

    /// <inheritdoc/>
    protected override bool ReleaseHandle() =>

        // Intentionally ignore the result: closing a section handle we own cannot fail in a way we could act on.
        Interop.Kernel32.CloseHandle(handle) || true;
}

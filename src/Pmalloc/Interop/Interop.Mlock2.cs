using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>mlock2 flags (asm-generic/mman-common.h).</summary>
    [Flags]
    internal enum MlockFlags : uint
    {
        None = 0,
        OnFault = 0x01,
    }

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int mlock2(nint addr, nuint length, MlockFlags flags);
}

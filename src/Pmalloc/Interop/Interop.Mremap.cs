using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>mremap flags (linux/mman.h).</summary>
    [Flags]
    internal enum MremapFlags
    {
        MayMove = 1,
        Fixed = 2,
    }

    // mremap is variadic only for the MREMAP_FIXED new address, passed here as a fixed fifth argument.
    [LibraryImport(Libc, SetLastError = true)]
    internal static partial nint mremap(nint oldAddress, nuint oldSize, nuint newSize, MremapFlags flags, nint newAddress);
}

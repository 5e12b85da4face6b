using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

public static partial class Libc
{
    /// <summary>mremap flags (linux/mman.h).</summary>
    [Flags]
    public enum MremapFlags
    {
        MayMove = 1,
    }

    // mremap is variadic only for the MREMAP_FIXED new address, passed here as a fixed fifth argument.
    [LibraryImport(Library, SetLastError = true)]
    public static partial nint mremap(nint oldAddress, nuint oldSize, nuint newSize, MremapFlags flags, nint newAddress);
}

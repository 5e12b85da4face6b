using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

public static partial class Libc
{
    [LibraryImport(Library)]
    public static partial nint aligned_alloc(nuint alignment, nuint size);

    [LibraryImport(Library)]
    public static partial void free(nint pointer);
}

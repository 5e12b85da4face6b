using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

public static partial class Libc
{
    [LibraryImport(Library)]
    public static partial nint memset(nint destination, int value, nuint count);
}

using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

public static partial class Libc
{
    [LibraryImport(Library, SetLastError = true)]
    public static partial int mprotect(nint addr, nuint length, Prot prot);
}

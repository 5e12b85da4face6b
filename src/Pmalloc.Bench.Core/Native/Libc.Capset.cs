using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

public static partial class Libc
{
    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial int capset(ref CapHeader header, CapData* data);
}

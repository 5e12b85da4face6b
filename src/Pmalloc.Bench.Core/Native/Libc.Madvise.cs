using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

public static partial class Libc
{
    /// <summary>madvise advice values (asm-generic/mman-common.h).</summary>
    public enum Advice
    {
        DontNeed = 4,
    }

    [LibraryImport(Library, SetLastError = true)]
    public static partial int madvise(nint addr, nuint length, Advice advice);
}

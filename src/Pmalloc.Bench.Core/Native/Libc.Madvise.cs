using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

public static partial class Libc
{
    /// <summary>madvise advice values (asm-generic/mman-common.h).</summary>
    public enum Advice
    {
        DontNeed = 4,

        /// <summary>MADV_REMOVE: punch the range out of the file behind a shared mapping.</summary>
        Remove = 9,

        /// <summary>MADV_DONTFORK: leave the range out of forked children (every pool chunk has it).</summary>
        DontFork = 10,

        /// <summary>MADV_GUARD_INSTALL (Linux 6.13): the range faults on access, without a VMA of its own.</summary>
        GuardInstall = 102,

        /// <summary>MADV_POPULATE_WRITE (Linux 5.14): make the range's pages present and writable, without a fault.</summary>
        PopulateWrite = 23,
    }

    [LibraryImport(Library, SetLastError = true)]
    public static partial int madvise(nint addr, nuint length, Advice advice);
}

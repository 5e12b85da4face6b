using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>madvise advice values (asm-generic/mman-common.h).</summary>
    internal enum Advice
    {
        DontNeed = 4,

        /// <summary>Free the range's pages in a shared file mapping (a hole punched through the mapping; needs no descriptor).</summary>
        Remove = 9,

        /// <summary>Leave the range out of a fork()ed child's address space (VM_DONTCOPY).</summary>
        DontFork = 10,
        DontDump = 16,
        DoDump = 17,

        /// <summary>Make the range's pages present and writable now, as if each were written (Linux 5.14).</summary>
        PopulateWrite = 23,
        GuardInstall = 102,
    }

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int madvise(nint addr, nuint length, Advice advice);
}

using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>fallocate modes (linux/falloc.h).</summary>
    [Flags]
    internal enum FallocateMode
    {
        /// <summary>Do not change the file's size.</summary>
        KeepSize = 0x01,

        /// <summary>Free the range's pages: it reads as zeros afterwards, and every mapping of it sees that (needs <see cref="KeepSize"/>).</summary>
        PunchHole = 0x02,
    }

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int fallocate(SafeFdHandle fd, FallocateMode mode, long offset, long length);
}

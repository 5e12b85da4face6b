using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>lseek origins (linux/fs.h): the next byte that holds data, the next hole.</summary>
    internal enum Whence
    {
        Data = 3,
        Hole = 4,
    }

    /// <summary>The offset of the next data or hole at or after <paramref name="offset"/> (glibc's lseek is lseek64 on 64-bit); -1 with ENXIO past the last data.</summary>
    [LibraryImport(Libc, SetLastError = true)]
    internal static partial long lseek(SafeFdHandle fd, long offset, Whence whence);
}

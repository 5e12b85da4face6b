using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>Writes <paramref name="count"/> bytes at file offset <paramref name="offset"/> (glibc's pwrite is pwrite64 on 64-bit).</summary>
    [LibraryImport(Libc, SetLastError = true)]
    internal static unsafe partial nint pwrite(SafeFdHandle fd, void* buffer, nuint count, long offset);
}

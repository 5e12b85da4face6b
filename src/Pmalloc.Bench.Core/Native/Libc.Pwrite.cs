using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

public static partial class Libc
{
    /// <summary>Writes <paramref name="count"/> bytes at file offset <paramref name="offset"/> (glibc's pwrite is pwrite64 on 64-bit).</summary>
    [LibraryImport(Library, SetLastError = true)]
    public static unsafe partial nint pwrite(int fd, void* buffer, nuint count, long offset);
}

using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>open flags (asm-generic/fcntl.h): read-only is 0.</summary>
    internal const int OReadOnly = 0;

    /// <summary>
    /// Opens <paramref name="path"/> (a NUL-terminated UTF-8 path): a raw descriptor, for reading a /proc file without a
    /// managed stream (a descriptor the caller closes with <see cref="close"/>; -1 on failure).
    /// </summary>
    [LibraryImport(Libc, EntryPoint = "open", SetLastError = true)]
    internal static unsafe partial int open(byte* path, int flags);
}

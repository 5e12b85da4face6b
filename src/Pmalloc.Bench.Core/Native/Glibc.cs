using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

/// <summary>glibc's <c>malloc_trim</c>: hands free heap memory back to the kernel.</summary>
public static partial class Glibc
{
    /// <summary>
    /// Returns every free page of the malloc heap to the kernel, so that a measurement's resident growth is its own
    /// and not hidden by memory an earlier measurement freed into malloc's free lists (glibc raises its trim threshold
    /// after large frees, so it would otherwise keep it).
    /// </summary>
    public static void Trim() => _ = malloc_trim(0);

    [LibraryImport("libc")]
    private static partial int malloc_trim(nuint pad);
}

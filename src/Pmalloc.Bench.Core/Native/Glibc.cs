using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

/// <summary>glibc's own malloc calls: <c>malloc_trim</c> and <c>mallinfo2</c>.</summary>
public static partial class Glibc
{
    /// <summary>
    /// Returns every free page of the malloc heap to the kernel, so that a measurement's resident growth is its own
    /// and not hidden by memory an earlier measurement freed into malloc's free lists (glibc raises its trim threshold
    /// after large frees, so it would otherwise keep it).
    /// </summary>
    public static void Trim() => _ = malloc_trim(0);

    /// <summary>
    /// The bytes malloc has handed out and not yet been given back, in every arena and in its own mappings
    /// (<c>uordblks + hblkhd</c> of <c>mallinfo2</c>, glibc 2.33). Allocated, not resident: a calloc'd block's untouched
    /// pages count in full.
    /// </summary>
    public static long AllocatedBytes()
    {
        MallInfo2 info = mallinfo2();
        return (long)(info.InUseBytes + info.MappedBytes);
    }

    /// <summary>struct mallinfo2 (malloc.h): ten size_t fields.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint Arena;
        public nuint FreeChunks;
        public nuint FastBins;
        public nuint MappedRegions;
        public nuint MappedBytes;
        public nuint MaxAllocated;
        public nuint FastBinFreeBytes;
        public nuint InUseBytes;
        public nuint FreeBytes;
        public nuint TopReleasable;
    }

    [LibraryImport("libc")]
    private static partial int malloc_trim(nuint pad);

    [LibraryImport("libc")]
    private static partial MallInfo2 mallinfo2();
}

using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

public static partial class Libc
{
    /// <summary>fallocate modes (linux/falloc.h).</summary>
    [Flags]
    public enum FallocateMode
    {
        KeepSize = 0x01,
        PunchHole = 0x02,
    }

    [LibraryImport(Library, SetLastError = true)]
    public static partial int fallocate(int fd, FallocateMode mode, long offset, long length);
}

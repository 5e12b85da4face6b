using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

public static partial class Libc
{
    /// <summary>Memory protection bits (asm-generic/mman-common.h).</summary>
    [Flags]
    public enum Prot
    {
        None = 0x0,
        Read = 0x1,
        Write = 0x2,
    }

    /// <summary>Mapping flags (asm-generic/mman-common.h).</summary>
    [Flags]
    public enum MapFlags
    {
        Shared = 0x01,
        Private = 0x02,
        Fixed = 0x10,
        Anonymous = 0x20,
        NoReserve = 0x4000,
    }

    /// <summary>What mmap and mremap return on failure.</summary>
    public const nint MapFailed = -1;

    [LibraryImport(Library, SetLastError = true)]
    public static partial nint mmap(nint addr, nuint length, Prot prot, MapFlags flags, int fd, long offset);
}

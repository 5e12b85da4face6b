using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>Memory protection bits (asm-generic/mman-common.h).</summary>
    [Flags]
    internal enum Prot
    {
        None = 0x0,
        Read = 0x1,
        Write = 0x2,
    }

    /// <summary>Mapping flags (asm-generic/mman-common.h, linux/mman.h).</summary>
    [Flags]
    internal enum MapFlags
    {
        Shared = 0x01,
        Private = 0x02,
        Fixed = 0x10,
        Anonymous = 0x20,
        NoReserve = 0x4000,
        FixedNoReplace = 0x100000,
    }

    /// <summary>What mmap returns on failure.</summary>
    internal const nint MapFailed = -1;

    /// <summary>An anonymous mapping (no file: the kernel's fd argument is -1).</summary>
    internal static nint mmap(nint addr, nuint length, Prot prot, MapFlags flags) => mmap(addr, length, prot, flags, -1, 0);

    /// <summary>A mapping of <paramref name="fd"/> from <paramref name="offset"/>.</summary>
    [LibraryImport(Libc, SetLastError = true)]
    internal static partial nint mmap(nint addr, nuint length, Prot prot, MapFlags flags, SafeFdHandle fd, long offset);

    [LibraryImport(Libc, EntryPoint = "mmap", SetLastError = true)]
    private static partial nint mmap(nint addr, nuint length, Prot prot, MapFlags flags, int fd, long offset);
}

using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

public static partial class Libc
{
    /// <summary>open flags (asm-generic/fcntl.h).</summary>
    [Flags]
    public enum OpenFlags
    {
        ReadWrite = 0x2,
        CloseOnExec = 0x80000,
    }

    // open is variadic only for the mode of a file it creates; these calls create none.
    [LibraryImport(Library, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, OpenFlags flags);
}

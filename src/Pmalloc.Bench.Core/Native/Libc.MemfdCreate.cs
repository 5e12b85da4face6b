using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

public static partial class Libc
{
    /// <summary>memfd_create flags (linux/memfd.h).</summary>
    [Flags]
    public enum MemfdFlags : uint
    {
        CloseOnExec = 0x1,
        AllowSealing = 0x2,
    }

    [LibraryImport(Library, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int memfd_create(string name, MemfdFlags flags);
}

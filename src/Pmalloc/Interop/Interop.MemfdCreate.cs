using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>memfd_create flags (linux/memfd.h).</summary>
    [Flags]
    internal enum MemfdFlags : uint
    {
        CloseOnExec = 0x1,
        AllowSealing = 0x2,
        NoExec = 0x8,
    }

    /// <summary>The kernel shows the name as <c>/memfd:NAME</c> in /proc/PID/maps; it may be at most 249 bytes.</summary>
    internal const int MemfdMaxNameBytes = 249;

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial SafeFdHandle memfd_create(string name, MemfdFlags flags);
}

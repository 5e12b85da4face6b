using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>mincore(2): one byte per page of [addr, addr + length), bit 0 set where the page is resident.</summary>
    [LibraryImport(Libc, SetLastError = true)]
    internal static unsafe partial int mincore(nint addr, nuint length, byte* vec);
}

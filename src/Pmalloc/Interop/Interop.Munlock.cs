using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int munlock(nint addr, nuint length);
}

using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    [LibraryImport(Libc, SetLastError = true)]
    internal static unsafe partial nint read(int fd, byte* buffer, nuint count);
}

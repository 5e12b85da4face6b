using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    internal static partial class Kernel32
    {
        /// <summary><c>MEM_RELEASE</c> (winnt.h): gives the whole allocation back; the size must then be 0.</summary>
        internal const uint MemRelease = 0x8000;

        /// <summary>Releases memory from <see cref="VirtualAlloc"/>.</summary>
        [LibraryImport(Name, SetLastError = true)]
        [return: MarshalAs(UnmanagedType.Bool)]
        internal static partial bool VirtualFree(nint address, nuint size, uint freeType);
    }
}

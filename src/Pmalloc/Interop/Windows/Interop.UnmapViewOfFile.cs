using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    internal static partial class Kernel32
    {
        /// <summary>Unmaps the view whose base address (what <see cref="MapViewOfFile"/> returned) is <paramref name="baseAddress"/>.</summary>
        [LibraryImport(Name, SetLastError = true)]
        [return: MarshalAs(UnmanagedType.Bool)]
        internal static partial bool UnmapViewOfFile(nint baseAddress);
    }
}

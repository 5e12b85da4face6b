using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    internal static partial class Kernel32
    {
        /// <summary>The pseudo-handle of this process (-1): it needs no closing.</summary>
        [LibraryImport(Name)]
        internal static partial nint GetCurrentProcess();
    }
}

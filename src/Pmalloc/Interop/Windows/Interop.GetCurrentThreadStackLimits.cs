using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    internal static partial class Kernel32
    {
        /// <summary>
        /// The calling thread's stack: [<paramref name="lowLimit"/>, <paramref name="highLimit"/>), the whole reservation
        /// (Windows 8 and later; Wine has it). Cannot fail.
        /// </summary>
        [LibraryImport(Name)]
        internal static partial void GetCurrentThreadStackLimits(out nuint lowLimit, out nuint highLimit);
    }
}

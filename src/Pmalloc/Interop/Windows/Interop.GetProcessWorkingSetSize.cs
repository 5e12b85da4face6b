using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    internal static partial class Kernel32
    {
        /// <summary>The working set's minimum and maximum size, in bytes, of <paramref name="process"/>.</summary>
        [LibraryImport(Name, SetLastError = true)]
        [return: MarshalAs(UnmanagedType.Bool)]
        internal static partial bool GetProcessWorkingSetSize(nint process, out nuint minimum, out nuint maximum);
    }
}

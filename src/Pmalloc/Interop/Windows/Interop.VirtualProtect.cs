using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    internal static partial class Kernel32
    {
        /// <summary>
        /// Changes the protection of the pages in [<paramref name="address"/>, +<paramref name="size"/>). On a view, never above
        /// the view's own access: a view mapped with <see cref="FileMapAccess.Read"/> only cannot be made writable
        /// (ERROR_INVALID_PARAMETER).
        /// </summary>
        [LibraryImport(Name, SetLastError = true)]
        [return: MarshalAs(UnmanagedType.Bool)]
        internal static partial bool VirtualProtect(nint address, nuint size, PageProtection newProtection, out PageProtection oldProtection);
    }
}

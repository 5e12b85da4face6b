using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    internal static partial class Kernel32
    {
        /// <summary>
        /// Locks the pages in the process's working set, faulting every one of them in now (there is no lock-on-fault). The
        /// locked total is limited by the working set's minimum size (<see cref="GetProcessWorkingSetSize"/>): past it the
        /// call fails with ERROR_WORKING_SET_QUOTA. Unmapping a view unlocks its pages.
        /// </summary>
        [LibraryImport(Name, SetLastError = true)]
        [return: MarshalAs(UnmanagedType.Bool)]
        internal static partial bool VirtualLock(nint address, nuint size);
    }
}

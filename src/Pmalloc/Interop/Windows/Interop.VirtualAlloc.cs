using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    internal static partial class Kernel32
    {
        /// <summary>Allocation types (winnt.h <c>MEM_*</c>).</summary>
        [Flags]
        internal enum AllocationType : uint
        {
            Commit = 0x1000,
            Reserve = 0x2000,
        }

        /// <summary>Reserves and commits private memory (zeroed) at an address the system chooses; returns 0 on failure.</summary>
        [LibraryImport(Name, SetLastError = true)]
        internal static partial nint VirtualAlloc(nint address, nuint size, AllocationType type, PageProtection protection);
    }
}

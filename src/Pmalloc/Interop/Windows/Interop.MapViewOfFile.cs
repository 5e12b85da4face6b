using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    internal static partial class Kernel32
    {
        /// <summary>Access to a view (memoryapi.h <c>FILE_MAP_*</c>); <see cref="Write"/> alone gives a read-write view.</summary>
        [Flags]
        internal enum FileMapAccess : uint
        {
            Write = 0x2,
            Read = 0x4,
        }

        /// <summary>
        /// Maps <paramref name="bytes"/> of <paramref name="section"/> from the byte offset
        /// <paramref name="offsetHigh"/>:<paramref name="offsetLow"/>, which must be a multiple of the allocation granularity
        /// (64 KiB), at an address the system chooses (a multiple of that granularity too). Returns 0 on failure.
        /// </summary>
        [LibraryImport(Name, SetLastError = true)]
        internal static partial nint MapViewOfFile(SafeSectionHandle section, FileMapAccess access, uint offsetHigh, uint offsetLow, nuint bytes);
    }
}

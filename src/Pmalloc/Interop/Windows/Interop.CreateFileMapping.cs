using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    internal static partial class Kernel32
    {
        /// <summary>The "file" of a section backed by the paging file (winbase.h <c>INVALID_HANDLE_VALUE</c>).</summary>
        internal const nint InvalidHandleValue = -1;

        /// <summary><c>SEC_COMMIT</c> (winnt.h): the whole section is charged against the commit limit when it is created.</summary>
        internal const uint SecCommit = 0x8000000;

        /// <summary>
        /// Creates an unnamed section of <paramref name="maximumSizeHigh"/>:<paramref name="maximumSizeLow"/> bytes backed by the
        /// paging file (<paramref name="file"/> = <see cref="InvalidHandleValue"/>). Unnamed, so no other process can open it
        /// by name; returns an invalid handle (NULL) on failure.
        /// </summary>
        [LibraryImport(Name, EntryPoint = "CreateFileMappingW", SetLastError = true, StringMarshalling = StringMarshalling.Utf16)]
        internal static partial SafeSectionHandle CreateFileMapping(nint file, nint attributes, uint protect, uint maximumSizeHigh, uint maximumSizeLow, string? name);
    }
}

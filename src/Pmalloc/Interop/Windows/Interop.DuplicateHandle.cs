using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Pmalloc;

internal static partial class Interop
{
    internal static partial class Kernel32
    {
        /// <summary>Access rights of a section handle (winnt.h <c>SECTION_MAP_*</c>).</summary>
        [Flags]
        internal enum SectionAccess : uint
        {
            MapWrite = 0x2,
            MapRead = 0x4,
        }

        /// <summary>
        /// Makes a handle, valid in <paramref name="targetProcess"/>, to the section behind <paramref name="source"/> (a handle of
        /// this process), with exactly <paramref name="access"/>: the writer process's way to the chunk's memory.
        /// </summary>
        [LibraryImport(Name, SetLastError = true)]
        [return: MarshalAs(UnmanagedType.Bool)]
        internal static partial bool DuplicateHandle(
            nint sourceProcess,
            SafeSectionHandle source,
            SafeProcessHandle targetProcess,
            out nint target,
            SectionAccess access,
            [MarshalAs(UnmanagedType.Bool)] bool inheritHandle,
            uint options);
    }
}

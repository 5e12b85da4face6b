using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    internal static partial class Kernel32
    {
        /// <summary>
        /// <c>WerRegisterExcludedMemoryBlock</c> (Windows 8.1 and later; Wine 8 has no such export): leaves a block out of the
        /// dumps Windows Error Reporting collects, not out of dumps a debugger or <c>MiniDumpWriteDump</c> takes. At most
        /// 512 blocks per process (<c>WER_MAX_REGISTERED_ENTRIES</c>). Null where kernel32 does not export it: looked up once,
        /// so that a missing export is reported as a missing feature, never an <see cref="EntryPointNotFoundException"/>.
        /// </summary>
        internal static readonly unsafe delegate* unmanaged<void*, uint, int> WerRegisterExcludedMemoryBlock =
            (delegate* unmanaged<void*, uint, int>)Export("WerRegisterExcludedMemoryBlock");

        /// <summary><c>WerUnregisterExcludedMemoryBlock</c>, the undo of <see cref="WerRegisterExcludedMemoryBlock"/>; null where missing.</summary>
        internal static readonly unsafe delegate* unmanaged<void*, int> WerUnregisterExcludedMemoryBlock =
            (delegate* unmanaged<void*, int>)Export("WerUnregisterExcludedMemoryBlock");

        /// <summary>The largest block one registration takes (its size is a DWORD).</summary>
        internal const nuint MaxExcludedBlock = 1u << 31;

        private static nint Export(string name) =>
            OperatingSystem.IsWindows() && NativeLibrary.TryLoad(Name, out nint kernel32) && NativeLibrary.TryGetExport(kernel32, name, out nint function)
                ? function
                : 0;
    }
}

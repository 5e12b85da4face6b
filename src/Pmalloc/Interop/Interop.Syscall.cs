using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>System call numbers of calls that glibc 2.36 does not wrap (x86-64 and arm64 share them: both use the generic table from 424 on).</summary>
    internal enum SyscallNumber : long
    {
        ProcessMadvise = 440,
        MemfdSecret = 447,
        Mseal = 462,
    }

    // syscall(2) is variadic; it reads its arguments as longs, so passing nint-sized values is exact.
    [LibraryImport(Libc, SetLastError = true)]
    internal static partial long syscall(SyscallNumber number, nint arg1, nint arg2, nint arg3);

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial long syscall(SyscallNumber number, nint arg1, nint arg2, nint arg3, nint arg4, nint arg5);
}

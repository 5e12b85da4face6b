using System.Runtime.InteropServices;

namespace Pmalloc.Bench.Native;

public static partial class Libc
{
    /// <summary>PIDFD_SELF (linux/pidfd.h, Linux 6.14): the calling process.</summary>
    public const int PidfdSelf = -10000;

    /// <summary>struct iovec.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public nint Base;
        public nuint Length;
    }

    /// <summary>process_madvise(2) (system call 440 on x86-64 and arm64): madvise over several ranges in one call.</summary>
    public static unsafe nint process_madvise(int pidfd, IoVec* vectors, nuint count, Advice advice) =>
        (nint)syscall(440, pidfd, (nint)vectors, (nint)count, (nint)advice, 0);

    [LibraryImport(Library, SetLastError = true)]
    private static partial long syscall(long number, nint arg1, nint arg2, nint arg3, nint arg4, nint arg5);
}

using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>PIDFD_SELF (linux/pidfd.h, Linux 6.14): a pidfd meaning the calling process, with no descriptor to open.</summary>
    internal const int PidfdSelf = -10000;

    /// <summary>
    /// madvise over several ranges in one call (<c>process_madvise(2)</c>; any advice for the calling process since Linux 6.13,
    /// PIDFD_SELF since 6.14). Returns the bytes advised, or -1. The ranges are <see cref="IoVec"/>s (declared with sendmsg's).
    /// </summary>
    internal static unsafe nint process_madvise(int pidfd, IoVec* vectors, nuint count, Advice advice) =>
        (nint)syscall(SyscallNumber.ProcessMadvise, pidfd, (nint)vectors, (nint)count, (nint)advice, 0);
}

using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>fcntl commands (linux/fcntl.h).</summary>
    internal enum FcntlCommand
    {
        /// <summary>F_DUPFD_CLOEXEC: a duplicate at the lowest free number at or above the argument, closed on exec.</summary>
        DupCloseOnExec = 1024 + 6,
        AddSeals = 1024 + 9,
        GetSeals = 1024 + 10,
    }

    /// <summary>File seals for memfds (linux/fcntl.h).</summary>
    [Flags]
    internal enum Seals
    {
        Seal = 0x0001,
        Shrink = 0x0002,
        Grow = 0x0004,
        Write = 0x0008,
        FutureWrite = 0x0010,
    }

    // fcntl is variadic; on x86-64 and arm64 Linux an int passed as the third argument lands where
    // the variadic callee reads it, so a fixed signature is safe for the int-argument commands we use.
    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int fcntl(SafeFdHandle fd, FcntlCommand cmd, int arg);
}

using System.Runtime.InteropServices;

namespace Pmalloc;

internal static partial class Interop
{
    /// <summary>The signal that cannot be caught (asm-generic/signal.h).</summary>
    internal const int SigKill = 9;

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int kill(int pid, int signal);
}
